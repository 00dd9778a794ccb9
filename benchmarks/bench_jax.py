"""JAX backend: jitted fwd and fwd+bwd time, as ratios to jax.nn.gelu(approximate=False).

    python benchmarks/bench_jax.py [--sizes 1048576 16777216] [--repeats 5] [--functions ...]

Runs with ``jax_enable_x64`` on, the mode in which float32 inputs are evaluated in float64
and meet the spec's bounds. fwd+bwd is ``jax.vjp`` of the function in x and in every
parameter (float32 scalars at the spec defaults) applied to a random upstream gradient,
all under one ``jit``. Reference rows, not conformant: sgblend and lambda_gelu with x64
off (evaluated in float32), and the floor of the float64 evaluation, the two float64
exponentials SG-Blend's value needs. Saved bytes: the arrays held by the function
``jax.vjp`` returns (its residuals), outside jit. Results: benchmarks/results/jax.json.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp

import harness
from sgblend_spec import formulas, spec
from sgblend_spec.backends import jax as backend

jax.config.update("jax_enable_x64", True)


def _residual_bytes(f, *primals) -> int:
    _, vjp = jax.vjp(f, *primals)
    arrays = {id(a): a.nbytes for a in jax.tree_util.tree_leaves(vjp) if isinstance(a, jax.Array)}
    return sum(arrays.values())


def _timed(f, x, dy, params=(), backward=True, x64=True) -> harness.Timed:
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


def _spec_function(name: str):
    names = spec.FUNCTIONS[name].param_names
    return lambda x, *p: getattr(backend, name)(x, **dict(zip(names, p)))


def _floor(x):
    x64 = x.astype(jnp.float64)
    return (jnp.exp(-jnp.abs(x64)) + jnp.exp(-jnp.abs(formulas.SIGMOID_GELU_SLOPE * x64))).astype(jnp.float32)


def cases(functions: list[str]) -> list[harness.Case]:
    out = [harness.Case("jax.nn.gelu (exact)", "native", "jax.nn.gelu(x, approximate=False)",
                        lambda x, dy: _timed(lambda t: jax.nn.gelu(t, approximate=False), x, dy))]
    for name in functions:
        out.append(harness.Case(name, "spec", "", lambda x, dy, name=name: _timed(
            _spec_function(name), x, dy, _parameters(name))))
    for name in ("sgblend", "lambda_gelu"):
        if name in functions:
            out.append(harness.Case(
                f"{name}, x64 off", "reference",
                "jax_enable_x64 off: evaluated in float32 (not conformant); prices the float64 evaluation",
                lambda x, dy, name=name: _timed(_spec_function(name), x, dy, _parameters(name), x64=False)))
    out.append(harness.Case(
        "floor: 2 float64 exp", "reference",
        "exp(-|x|) + exp(-|1.702x|) in float64, jitted: the least float64 work SG-Blend's value needs",
        lambda x, dy: _timed(_floor, x, dy, backward=False)))
    return out


def _inputs(numel: int):
    kx, kd = jax.random.split(jax.random.key(0))
    return jax.random.normal(kx, (numel,), jnp.float32) * 3, jax.random.normal(kd, (numel,), jnp.float32)


if __name__ == "__main__":
    args = harness.arguments(__doc__.splitlines()[0])
    harness.main("jax", f"jax {jax.__version__}", f"jit on {jax.devices()[0].device_kind}, x64 on (float64 evaluation)",
                 "jax.nn.gelu (exact)", os.cpu_count(), cases(args.functions), _inputs,
                 jax.block_until_ready, args)
