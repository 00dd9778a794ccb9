"""TensorFlow backend: fwd and fwd+bwd time under XLA, as ratios to tf.nn.gelu(approximate=False).

    python benchmarks/bench_tensorflow.py [--sizes 1048576 16777216] [--repeats 5] [--functions ...]
                                          [--precision fast|exact]
                                          [--end-to-end/--no-end-to-end] [--e2e-repeats 7] [--e2e-shape 32 128 256]

Every case runs under ``tf.function(jit_compile=True)`` in the tier ``--precision`` (default
"fast": float32 arithmetic); fwd+bwd is the gradient of a random upstream gradient in x and
in every parameter (float32 ``tf.Variable``s at the spec defaults, as a layer's weights).
Reference rows, not conformant: the same formulas evaluated in float32 with TensorFlow
autodiff, the floor of the exact tier's evaluation (the two float64 exponentials
SG-Blend's value needs), and the naive float32 SG-Blend: the authors' Keras layer's
arithmetic in TF ops (``tf.sigmoid``, TF autodiff), what a user would write. Saved bytes
are not reported: TensorFlow has no count of what a tape keeps (the spec ops' gradient
closures hold x and the parameters only, by construction).

End to end (``--end-to-end``, on by default): one training step of a Keras encoder block
equivalent to torch's ``TransformerEncoderLayer(256, 4, 1024)`` (post-norm:
``MultiHeadAttention(4, 64)``, residual, ``LayerNormalization``; ``Dense(1024)``, the
activation, ``Dense(256)``, residual, ``LayerNormalization``) without dropout (XLA's dropout
random numbers on CPU cost about ten times the rest of the block here and would pull every
ratio toward 1) on a (32, 128, 256)
float32 batch, with the Keras layers ``SGBlend()``, ``SGBlend(precision="exact")``,
``LambdaGELU()``, ``SSwish()`` and the naive SG-Blend layer, as ratios to the same block
(same weights) with ``keras.activations.gelu(approximate=False)``. The step is a
``tf.function(jit_compile=True)`` (XLA, as Keras' ``fit`` compiles by default) with a
``GradientTape`` and ``keras.optimizers.AdamW`` (which applies the layers' constraints
after each update); timed interleaved (see ``end_to_end.py``). Results:
benchmarks/results/tensorflow.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

import end_to_end  # noqa: E402
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


def cases(functions: list[str], precision: str = "fast") -> list[harness.Case]:
    out = [harness.Case("tf.nn.gelu (exact)", "native", "tf.nn.gelu(x, approximate=False)",
                        lambda x, dy: _timed(lambda t: tf.nn.gelu(t, approximate=False), x, dy))]
    for name in functions:
        def build(x, dy, name=name):
            variables = _variables(name)
            return _timed(lambda t: getattr(backend, name)(t, *variables, precision=precision), x, dy, variables)
        out.append(harness.Case(name, "spec", "", build))
    for name in ("sgblend", "lambda_gelu"):
        if name in functions:
            def build(x, dy, name=name):
                variables = _variables(name)
                return _timed(_float32_formulas(name, variables), x, dy, variables)
            out.append(harness.Case(
                f"{name}, float32 formulas", "reference",
                "the spec formulas evaluated in float32 with TF autodiff instead of the binding's own gradient (not "
                "conformant)",
                build))
    if "sgblend" in functions:
        def build(x, dy):
            variables = _variables("sgblend")
            return _timed(lambda t: end_to_end.naive_sgblend(tf.sigmoid, t, *variables), x, dy, variables)
        out.append(harness.Case("sgblend, naive float32", "reference", end_to_end.NAIVE_NOTE, build))
    out.append(harness.Case(
        "floor: 2 float64 exp", "reference",
        "exp(-|x|) + exp(-|1.702x|) in float64 under XLA: the least float64 work SG-Blend's value needs",
        lambda x, dy: _timed(_floor, x, dy, backward=False)))
    return out


def _inputs(numel: int):
    gen = tf.random.Generator.from_seed(0)
    return gen.normal((numel,), dtype=tf.float32) * 3, gen.normal((numel,), dtype=tf.float32)


def end_to_end_rows(shape: tuple[int, ...], repeats: int) -> tuple[str, list[dict]]:
    """Training-step rows of a Keras encoder block per activation (see the module docstring)."""
    import keras

    from sgblend_spec.backends import keras as layers

    tf.get_logger().setLevel("ERROR")  # one tf.function per model: not the retracing its warning is about

    class NaiveSGBlend(keras.layers.Layer):
        """The authors' SG-Blend as a user would write it (see end_to_end.naive_sgblend)."""

        def build(self, input_shape):
            self.alpha, self.beta, self.gamma = (
                self.add_weight(name=n, shape=(1,), initializer=keras.initializers.Constant(v))
                for n, v in (("alpha", 0.0), ("beta", 1.0), ("gamma", 0.0)))

        def call(self, x):
            return end_to_end.naive_sgblend(tf.sigmoid, x, self.alpha, self.beta, self.gamma)

    d_model = shape[-1]

    def block(activation):
        keras.utils.set_random_seed(0)
        inputs = keras.Input(shape[1:])
        h = keras.layers.MultiHeadAttention(4, d_model // 4)(inputs, inputs)
        x = keras.layers.LayerNormalization(epsilon=1e-5)(inputs + h)
        f = keras.layers.Dense(d_model)(activation(keras.layers.Dense(1024)(x)))
        return keras.Model(inputs, keras.layers.LayerNormalization(epsilon=1e-5)(x + f))

    def gelu():
        return keras.layers.Activation(lambda t: keras.activations.gelu(t, approximate=False))

    native = block(gelu())
    x = tf.random.Generator.from_seed(1).normal(shape, dtype=tf.float32)

    def build(make_activation):
        def make():
            model = block(make_activation())
            for mine, theirs in zip(model.layers, native.layers):  # the same weights; the activation keeps its own
                if type(mine) is type(theirs) and type(mine) is not keras.layers.Activation:
                    mine.set_weights(theirs.get_weights())
            optimizer = keras.optimizers.AdamW(1e-4)
            optimizer.build(model.trainable_variables)
            forward = tf.function(lambda x: model(x, training=True), jit_compile=True)

            @tf.function(jit_compile=True)
            def step(x):
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean(tf.square(model(x, training=True)))
                gradients = tape.gradient(loss, model.trainable_variables)
                optimizer.apply_gradients(zip(gradients, model.trainable_variables))
                return loss

            return (lambda: forward(x)), (lambda: step(x))
        return make

    models = end_to_end.models(
        end_to_end.Model("keras.activations.gelu", "native", "keras.activations.gelu(x, approximate=False)",
                         build(gelu)),
        build, lambda cls, **kwargs: getattr(layers, cls)(**kwargs), NaiveSGBlend)
    description = (f"Keras {keras.__version__} encoder block ({d_model}, 4 heads, 1024, no dropout), input {tuple(shape)} "
                   f"float32, train step tf.function(jit_compile=True) with GradientTape + keras AdamW; "
                   f"median of {repeats} interleaved repeats")
    return description, end_to_end.measure(models, repeats, _block)


def _block(result) -> None:
    for t in tf.nest.flatten(result):
        t.numpy()


if __name__ == "__main__":
    args = harness.arguments(__doc__.splitlines()[0], extra=[
        (("--precision",), {"default": "fast", "choices": ["fast", "exact"]}),
        (("--e2e-shape",), {"type": int, "nargs": 3, "default": [32, 128, 256],
                            "help": "batch, sequence, model width of the end-to-end input"})])
    threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    harness.main("tensorflow", f"tensorflow {tf.__version__}",
                 f"tf.function(jit_compile=True), precision={args.precision!r}", "tf.nn.gelu (exact)", threads,
                 cases(args.functions, args.precision), _inputs, _block, args, extra={"precision": args.precision},
                 end_to_end=lambda: end_to_end_rows(tuple(args.e2e_shape), args.e2e_repeats))
