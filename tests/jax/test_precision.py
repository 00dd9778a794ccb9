"""The precision tiers of the JAX backend (issue #16 item 5): both tiers against the NumPy
reference in the same tier, "fast" free of float64 (jaxpr), "exact" with x64 off an error
naming the cause and the fix, the default "fast", bad tiers a ValueError, the pytree API
and the NNX layers keeping the tier."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from sgblend_spec import spec
from sgblend_spec.backends import jax as B
from sgblend_spec.backends.jax import layers

sys.path.extend({str(Path(__file__).resolve().parents[1] / "_shared")} - set(sys.path))  # tests/_shared: helpers

from precision_tiers import GRID, NARROW, NP, POINT, check_against_reference, check_default_tier_is_fast  # noqa: E402


def _all(name, x, precision):
    names = spec.FUNCTIONS[name].param_names
    params = [jnp.full(x.shape, POINT[n], x.dtype) for n in names]

    def total(x, *values):
        return getattr(B, name)(x, **dict(zip(names, values)), precision=precision).sum()

    y = getattr(B, name)(x, **{n: POINT[n] for n in names}, precision=precision)
    grads = jax.grad(total, argnums=tuple(range(1 + len(names))))(x, *params)
    fxx = jax.grad(lambda x: jax.grad(total)(x, *params).sum())(x)
    return y, dict(zip(("x", *names), grads)), fxx


@pytest.mark.parametrize("precision", spec.PRECISIONS)
@pytest.mark.parametrize("dtype", NARROW)
@pytest.mark.parametrize("name", list(spec.FUNCTIONS))
def test_each_function_matches_the_reference_in_its_tier(name, dtype, precision, with_x64):
    x_np = GRID.astype(NP[dtype])
    y, grads, fxx = _all(name, jnp.asarray(x_np), precision)
    assert y.dtype == x_np.dtype
    check_against_reference(name, x_np, y, grads, fxx, dtype, precision)


@pytest.mark.parametrize("name", list(spec.FUNCTIONS))
def test_fast_tier_has_no_float64_in_its_jaxpr(name, with_x64):
    """Even with x64 on, the fast tier evaluates float32 in float32: value, grad and dxx."""
    names = spec.FUNCTIONS[name].param_names
    x = jnp.linspace(-5, 5, 16, dtype=jnp.float32)
    params = {n: jnp.float32(POINT[n]) for n in names}

    def program(x, params, precision):
        f = lambda x, p: getattr(B, name)(x, **p, precision=precision).sum()  # noqa: E731
        return f(x, params), jax.grad(f, argnums=(0, 1))(x, params), jax.grad(lambda x: jax.grad(f)(x, params).sum())(x)

    fast = str(jax.make_jaxpr(lambda x, p: program(x, p, "fast"))(x, params))
    exact = str(jax.make_jaxpr(lambda x, p: program(x, p, "exact"))(x, params))
    assert "f64" not in fast
    assert "f64" in exact


def test_exact_with_x64_off_is_an_error_naming_the_fix():
    with jax.enable_x64(False):
        x = jnp.linspace(-3, 3, 7, dtype=jnp.float32)
        with pytest.raises(ValueError, match=r"precision='exact' needs float64: enable "
                                             r"jax.config.update\('jax_enable_x64', True\), or use precision='fast'"):
            B.sgblend(x, precision="exact")
        with pytest.raises(ValueError, match="jax_enable_x64"):
            jax.jit(lambda x: B.lambda_gelu(x, precision="exact"))(x)
        assert B.sgblend(x).dtype == jnp.float32  # fast works in float32
        assert "f64" not in str(jax.make_jaxpr(jax.grad(lambda x: B.sgblend(x).sum()))(x))


def test_float64_is_float64_in_both_tiers(with_x64):
    x = jnp.linspace(-30, 30, 201, dtype=jnp.float64)
    for name in ("sgblend", "lambda_gelu"):
        assert jnp.array_equal(getattr(B, name)(x, precision="fast"), getattr(B, name)(x, precision="exact"))


def test_default_is_fast_and_shown_in_every_signature():
    check_default_tier_is_fast(B)
    assert inspect.signature(layers.apply).parameters["precision"].default == "fast"


@pytest.mark.parametrize("bad", ["float32", None, "Fast"])
def test_bad_precision_names_the_argument_and_the_choices(bad):
    match = r"precision must be one of \['exact', 'fast'\]"
    with pytest.raises(ValueError, match=match):
        B.sgblend(jnp.ones(2), precision=bad)
    with pytest.raises(ValueError, match=match):
        layers.apply("sswish", {"beta": jnp.ones(()), "gamma": jnp.zeros(())}, jnp.ones(2), precision=bad)
    nnx = pytest.importorskip("flax.nnx")
    with pytest.raises(ValueError, match=match):
        B.SGBlend(rngs=nnx.Rngs(0), precision=bad)


def test_pytree_api_and_nnx_layers_keep_the_tier(with_x64):
    nnx = pytest.importorskip("flax.nnx")
    x = jnp.linspace(-9, 9, 37, dtype=jnp.float32)
    params = layers.init_params("lambda_gelu", lam=2.5)
    for precision in spec.PRECISIONS:
        want = B.lambda_gelu(x, lam=2.5, precision=precision)
        assert jnp.array_equal(layers.apply("lambda_gelu", params, x, precision=precision), want)
        layer = B.LambdaGELU(lam=2.5, precision=precision)
        assert layer.precision == precision
        assert jnp.array_equal(layer(x), want)
        assert jnp.array_equal(nnx.jit(lambda m, x: m(x))(layer, x), want)
    assert B.SGBlend(rngs=nnx.Rngs(0)).precision == "fast"
