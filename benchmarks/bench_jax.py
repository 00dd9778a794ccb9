"""JAX backend: jitted fwd and fwd+bwd time, as ratios to jax.nn.gelu(approximate=False).

    python benchmarks/bench_jax.py [--sizes 1048576 16777216] [--repeats 5] [--functions ...]
                                   [--x64] [--precision fast|exact]
                                   [--end-to-end/--no-end-to-end] [--e2e-repeats 7] [--e2e-shape 32 128 256]

Runs JAX in its default configuration (``jax_enable_x64`` off) unless ``--x64``; the fast
tier (``--precision fast``, the default) is float32 arithmetic either way, and the exact
tier (float64 evaluation) needs ``--x64``. fwd+bwd is ``jax.vjp`` of the function in x and
in every parameter (float32 scalars at the spec defaults) applied to a random upstream
gradient, all under one ``jit``. Reference rows, not conformant: sgblend and lambda_gelu
in the same tier with x64 flipped (on when the table runs with it off, and the other way
round): what the x64 mode costs; the floor of the exact tier's evaluation, the two float64
exponentials SG-Blend's value needs (jitted with x64 on); and the naive float32 SG-Blend,
the authors' Keras layer's arithmetic in ``jax.numpy`` (``jax.nn.sigmoid``, JAX autodiff):
what a user would write. Saved bytes: the arrays held by the function ``jax.vjp`` returns
(its residuals), outside jit.

End to end (``--end-to-end``, on by default, x64 as the table): one training step of a
Flax NNX encoder block equivalent to torch's ``TransformerEncoderLayer(256, 4, 1024)``
(post-norm: ``nnx.MultiHeadAttention(4, 256)``, residual, ``nnx.LayerNorm``;
``nnx.Linear(256, 1024)``, the activation, ``nnx.Linear(1024, 256)``, residual,
``nnx.LayerNorm``; no dropout, as in the Keras block) on a (32, 128, 256) float32 batch,
with the library's NNX layers ``SGBlend()``, ``LambdaGELU()``, ``SSwish()`` (and
``SGBlend(precision="exact")`` with ``--x64``) and the naive SG-Blend module, as ratios to
the same block (same weights) with ``jax.nn.gelu(approximate=False)``. The step is one
``jax.jit`` of the split NNX state: forward, loss = mean of squares, ``nnx.value_and_grad``,
``optax.adamw`` through ``nnx.Optimizer``, then the layer's constraint projection; timed
interleaved (see ``end_to_end.py``). Results: benchmarks/results/jax.json
(``jax-x64.json`` with ``--x64``, ``jax-x64-exact.json`` with ``--x64 --precision exact``).
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp

import end_to_end
import harness
from sgblend_spec import formulas, spec
from sgblend_spec.backends import jax as backend


def _residual_bytes(f, *primals) -> int:
    _, vjp = jax.vjp(f, *primals)
    arrays = {id(a): a.nbytes for a in jax.tree_util.tree_leaves(vjp) if isinstance(a, jax.Array)}
    return sum(arrays.values())


def _timed(f, x, dy, params=(), backward=True, x64=None) -> harness.Timed:
    """``x64`` None runs in the process's mode; True/False flips it for this case only."""
    x64 = jax.config.jax_enable_x64 if x64 is None else x64

    def mode(g):
        def run(*args):
            with jax.enable_x64(x64):
                return g(*args)
        return run

    forward = jax.jit(f)

    @jax.jit
    def forward_backward(x, dy, *params):
        y, vjp = jax.vjp(f, x, *params)
        return y, vjp(dy)

    with jax.enable_x64(x64):
        saved = _residual_bytes(f, x, *params) if backward else None
    return harness.Timed(lambda: mode(forward)(x, *params),
                         (lambda: mode(forward_backward)(x, dy, *params)) if backward else None, saved)


def _parameters(name: str) -> tuple:
    return tuple(jnp.float32(v) for v in spec.FUNCTIONS[name].defaults.values())


def _spec_function(name: str, precision: str):
    names = spec.FUNCTIONS[name].param_names
    return lambda x, *p: getattr(backend, name)(x, **dict(zip(names, p)), precision=precision)


def _floor(x):
    x64 = x.astype(jnp.float64)
    return (jnp.exp(-jnp.abs(x64)) + jnp.exp(-jnp.abs(formulas.SIGMOID_GELU_SLOPE * x64))).astype(jnp.float32)


def cases(functions: list[str], precision: str = "fast") -> list[harness.Case]:
    x64 = bool(jax.config.jax_enable_x64)
    out = [harness.Case("jax.nn.gelu (exact)", "native", "jax.nn.gelu(x, approximate=False)",
                        lambda x, dy: _timed(lambda t: jax.nn.gelu(t, approximate=False), x, dy))]
    for name in functions:
        out.append(harness.Case(name, "spec", "", lambda x, dy, name=name: _timed(
            _spec_function(name, precision), x, dy, _parameters(name))))
    if precision == "fast":  # the exact tier needs x64 on, so it has no x64-off row
        flipped = "off" if x64 else "on"
        for name in ("sgblend", "lambda_gelu"):
            if name in functions:
                out.append(harness.Case(
                    f"{name}, x64 {flipped}", "reference",
                    f"the same tier with jax_enable_x64 {flipped} (the table runs with it {'on' if x64 else 'off'}): "
                    "what the x64 mode costs",
                    lambda x, dy, name=name: _timed(_spec_function(name, precision), x, dy, _parameters(name),
                                                    x64=not x64)))
    if "sgblend" in functions:
        out.append(harness.Case(
            "sgblend, naive float32", "reference", end_to_end.NAIVE_NOTE,
            lambda x, dy: _timed(lambda t, *p: end_to_end.naive_sgblend(jax.nn.sigmoid, t, *p), x, dy,
                                 _parameters("sgblend"))))
    out.append(harness.Case(
        "floor: 2 float64 exp", "reference",
        "exp(-|x|) + exp(-|1.702x|) in float64, jitted with x64 on: the least float64 work SG-Blend's value needs",
        lambda x, dy: _timed(_floor, x, dy, backward=False, x64=True)))
    return out


def end_to_end_rows(shape: tuple[int, ...], repeats: int) -> tuple[str, list[dict]]:
    """Training-step rows of a Flax NNX encoder block per activation (see the module docstring)."""
    import flax
    import optax
    from flax import nnx

    from sgblend_spec.backends.jax import nnx as layers

    d_model = shape[-1]

    class NaiveSGBlend(nnx.Module):
        """The authors' SG-Blend as a user would write it (see end_to_end.naive_sgblend)."""

        def __init__(self):
            self.alpha, self.beta, self.gamma = (nnx.Param(jnp.float32(v)) for v in (0.0, 1.0, 0.0))

        def __call__(self, x):
            return end_to_end.naive_sgblend(jax.nn.sigmoid, x, self.alpha[...], self.beta[...], self.gamma[...])

    class Block(nnx.Module):
        def __init__(self, activation):
            rngs = nnx.Rngs(0)  # the same weights in every model: the activation is made outside
            self.attention = nnx.MultiHeadAttention(4, d_model, decode=False, rngs=rngs)
            self.norm1 = nnx.LayerNorm(d_model, epsilon=1e-5, rngs=rngs)
            self.linear1 = nnx.Linear(d_model, 1024, rngs=rngs)
            self.linear2 = nnx.Linear(1024, d_model, rngs=rngs)
            self.norm2 = nnx.LayerNorm(d_model, epsilon=1e-5, rngs=rngs)
            self.activation = activation

        def __call__(self, x):
            x = self.norm1(x + self.attention(x))
            return self.norm2(x + self.linear2(self.activation(self.linear1(x))))

    x = jax.random.normal(jax.random.key(1), shape, jnp.float32)

    def build(make_activation):
        def make():
            activation = make_activation()
            model = Block(activation)
            optimizer = nnx.Optimizer(model, optax.adamw(1e-4), wrt=nnx.Param)
            graph, state = nnx.split((model, optimizer))
            project = isinstance(activation, layers._Layer)

            @jax.jit
            def forward(state, x):
                model, _ = nnx.merge(graph, state)
                return model(x)

            @jax.jit
            def step(state, x):
                model, optimizer = nnx.merge(graph, state)
                loss, grads = nnx.value_and_grad(lambda m: jnp.mean(jnp.square(m(x))))(model)
                optimizer.update(model, grads)
                if project:
                    model.activation.project()
                return loss, nnx.state((model, optimizer))

            held = {"state": state}

            def train():
                loss, held["state"] = step(held["state"], x)
                return loss

            return (lambda: forward(held["state"], x)), train
        return make

    gelu = functools.partial(jax.nn.gelu, approximate=False)
    def layer(cls, **kwargs):  # the layers with a β initialiser take its random generator
        return getattr(layers, cls)(**kwargs, **({} if cls == "LambdaGELU" else {"rngs": nnx.Rngs(2)}))

    models = end_to_end.models(
        end_to_end.Model("jax.nn.gelu", "native", "jax.nn.gelu(x, approximate=False)", lambda: build(lambda: gelu)()),
        build, layer, NaiveSGBlend, exact=jax.config.jax_enable_x64)
    description = (f"Flax {flax.__version__} NNX encoder block ({d_model}, 4 heads, 1024, no dropout), input "
                   f"{tuple(shape)} float32, jitted train step with optax {optax.__version__} adamw, "
                   f"x64 {'on' if jax.config.jax_enable_x64 else 'off'}; median of {repeats} interleaved repeats")
    return description, end_to_end.measure(models, repeats, jax.block_until_ready)


def _inputs(numel: int):
    kx, kd = jax.random.split(jax.random.key(0))
    return jax.random.normal(kx, (numel,), jnp.float32) * 3, jax.random.normal(kd, (numel,), jnp.float32)


if __name__ == "__main__":
    args = harness.arguments(__doc__.splitlines()[0], extra=[
        (("--x64",), {"action": "store_true", "help": "run with jax_enable_x64 on (needed by --precision exact)"}),
        (("--precision",), {"default": "fast", "choices": ["fast", "exact"]}),
        (("--e2e-shape",), {"type": int, "nargs": 3, "default": [32, 128, 256],
                            "help": "batch, sequence, model width of the end-to-end input"})])
    if args.precision == "exact" and not args.x64:
        raise SystemExit("--precision exact evaluates in float64: it needs --x64")
    jax.config.update("jax_enable_x64", args.x64)
    if args.x64 and args.out is None:
        args.out = harness.RESULTS / ("jax-x64.json" if args.precision == "fast" else "jax-x64-exact.json")
    harness.main("jax", f"jax {jax.__version__}",
                 f"jit on {jax.devices()[0].device_kind}, x64 {'on' if args.x64 else 'off (the default)'}, "
                 f"precision={args.precision!r}", "jax.nn.gelu (exact)", os.cpu_count(),
                 cases(args.functions, args.precision), _inputs, jax.block_until_ready, args,
                 extra={"precision": args.precision, "x64": args.x64},
                 end_to_end=lambda: end_to_end_rows(tuple(args.e2e_shape), args.e2e_repeats))
