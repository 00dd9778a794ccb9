"""TensorFlow backend: fwd and fwd+bwd time under XLA, as ratios to tf.nn.gelu(approximate=False).

    python benchmarks/bench_tensorflow.py [--sizes 1048576 16777216] [--repeats 5] [--functions ...]

Every case runs under ``tf.function(jit_compile=True)``; fwd+bwd is the gradient of a random
upstream gradient in x and in every parameter (float32 ``tf.Variable``s at the spec
defaults, as a layer's weights). Reference rows, not conformant: the same formulas
evaluated in float32 with TensorFlow autodiff (what the float64 evaluation costs), and the
floor of that evaluation, the two float64 exponentials SG-Blend's value needs. Saved bytes
are not reported: TensorFlow has no count of what a tape keeps (the spec ops' gradient
closures hold x and the parameters only, by construction). Results:
benchmarks/results/tensorflow.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

import harness  # noqa: E402
from sgblend_spec import formulas, spec  # noqa: E402
from sgblend_spec.backends import tensorflow as backend  # noqa: E402


def _timed(fn, x, dy, variables=(), backward=True) -> harness.Timed:
    forward = tf.function(fn, jit_compile=True)

    @tf.function(jit_compile=True)
    def forward_backward(x, dy):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        return tape.gradient(y, [x, *variables], output_gradients=dy)

    # TensorFlow exposes no count of what a GradientTape keeps (CPU allocator statistics
    # are unavailable, and tensors it keeps may alias each other), so none is reported.
    return harness.Timed(lambda: forward(x), (lambda: forward_backward(x, dy)) if backward else None, None)


def _variables(name: str) -> list[tf.Variable]:
    return [tf.Variable(v, dtype=tf.float32, name=n) for n, v in spec.FUNCTIONS[name].defaults.items()]


def _float32_formulas(name: str, variables):
    value = formulas.FORMULAS[name].value
    return lambda x: value(backend.NAMESPACE, x, *variables)


def _floor(x):
    x64 = tf.cast(x, tf.float64)
    return tf.cast(tf.exp(-tf.abs(x64)) + tf.exp(-tf.abs(formulas.SIGMOID_GELU_SLOPE * x64)), tf.float32)


def cases(functions: list[str]) -> list[harness.Case]:
    out = [harness.Case("tf.nn.gelu (exact)", "native", "tf.nn.gelu(x, approximate=False)",
                        lambda x, dy: _timed(lambda t: tf.nn.gelu(t, approximate=False), x, dy))]
    for name in functions:
        def build(x, dy, name=name):
            variables = _variables(name)
            return _timed(lambda t: getattr(backend, name)(t, *variables), x, dy, variables)
        out.append(harness.Case(name, "spec", "", build))
    for name in ("sgblend", "lambda_gelu"):
        if name in functions:
            def build(x, dy, name=name):
                variables = _variables(name)
                return _timed(_float32_formulas(name, variables), x, dy, variables)
            out.append(harness.Case(
                f"{name}, float32 formulas", "reference",
                "the same formulas evaluated in float32 with TF autodiff (not conformant); prices the float64 evaluation",
                build))
    out.append(harness.Case(
        "floor: 2 float64 exp", "reference",
        "exp(-|x|) + exp(-|1.702x|) in float64 under XLA: the least float64 work SG-Blend's value needs",
        lambda x, dy: _timed(_floor, x, dy, backward=False)))
    return out


def _inputs(numel: int):
    gen = tf.random.Generator.from_seed(0)
    return gen.normal((numel,), dtype=tf.float32) * 3, gen.normal((numel,), dtype=tf.float32)


def _block(result) -> None:
    for t in tf.nest.flatten(result):
        t.numpy()


if __name__ == "__main__":
    args = harness.arguments(__doc__.splitlines()[0])
    threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    harness.main("tensorflow", f"tensorflow {tf.__version__}", "tf.function(jit_compile=True), float64 evaluation",
                 "tf.nn.gelu (exact)", threads, cases(args.functions), _inputs, _block, args)
