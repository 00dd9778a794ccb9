"""The JAX functions against the NumPy reference, under every transform, with x64 on and off."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from sgblend_spec import reference, spec
from sgblend_spec.backends import jax as sj

#: One parameter set per function, away from the defaults so that a dropped parameter shows;
#: dyadic, so a parameter array in float32 means the same as the float64 reference's.
PARAMS = {
    "swish": {"beta": 1.75},
    "gelu": {},
    "gelu_tanh": {},
    "gelu_sigmoid": {},
    "sswish": {"beta": 0.8125, "gamma": 0.3125},
    "sgblend": {"alpha": 0.375, "beta": 1.5, "gamma": -0.25},
    "sgblend_gelu": {"alpha": -0.625, "beta": 2.5, "gamma": 0.125},
    "sgblend_gelu_tanh": {"alpha": 0.875, "beta": 0.5, "gamma": 0.75},
    "lambda_gelu": {"lam": 1.8125},
}
FUNCTIONS = list(spec.FUNCTIONS)
X = np.array([-30.0, -7.5, -2.0, -0.75, -0.1, 0.0, 0.3, 1.0, 2.5, 6.0, 40.0], dtype=np.float32)


def ulp_gap(a: np.ndarray, b: np.ndarray) -> int:
    """Largest distance in float32 steps between two float32 arrays."""
    ia, ib = a.astype(np.float32).view(np.int32).astype(np.int64), b.astype(np.float32).view(np.int32).astype(np.int64)
    ia = np.where(ia < 0, np.int64(-(2**31)) - ia, ia)
    ib = np.where(ib < 0, np.int64(-(2**31)) - ib, ib)
    return int(np.max(np.abs(ia - ib)))


def close(got, want, x64: bool, ulps: int = 2):
    """x64 on: within ``ulps`` float32 steps (evaluated in float64, rounded once); x64 off:
    the float32 evaluation, within a relative 2e-5 of the larger magnitude in play."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    # XLA:CPU flushes subnormal products to zero; a tangent product (partial × incoming
    # tangent) below float32's smallest normal may come back as zero (documented).
    flushed = (got == 0) & (np.abs(want) < np.finfo(np.float32).tiny)
    got = np.where(flushed, want, got)
    if x64:
        assert ulp_gap(got.astype(np.float32), want.astype(np.float32)) <= ulps, (got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5 * np.max(np.abs(want)))


def fn(name):
    """The public function in the exact tier where x64 is on (these tests measure that tier's
    1-2 ULP); with x64 off, the default fast tier (checked to a relative 2e-5 by ``close``)."""
    function = getattr(sj, name)

    def call(*args, **kwargs):
        if jax.config.jax_enable_x64:
            kwargs.setdefault("precision", "exact")
        return function(*args, **kwargs)

    return call


def test_import_resolves_real_jax():
    assert sj.autodiff.jax.__file__ != sj.__file__ and hasattr(sj.autodiff.jax, "custom_jvp")


@pytest.mark.parametrize("name", FUNCTIONS)
def test_value_and_jit(name, x64):
    p = PARAMS[name]
    want = getattr(reference, name)(X, **p)
    eager = fn(name)(jnp.asarray(X), **p)
    jitted = jax.jit(lambda x: fn(name)(x, **p))(jnp.asarray(X))
    assert eager.dtype == jnp.float32 and jitted.dtype == jnp.float32
    close(eager, want, x64, ulps=1)
    close(jitted, want, x64, ulps=1)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_first_derivatives_every_mode(name, x64):
    """∂x by vmap(grad), jacfwd and jacrev; each parameter partial by grad of the sum."""
    p = PARAMS[name]
    f = fn(name)
    want = getattr(reference, f"{name}_grad")(X, **p)
    x = jnp.asarray(X)
    by_grad = jax.jit(jax.vmap(jax.grad(lambda s: f(s, **p))))(x)
    by_jacfwd = jnp.diagonal(jax.jacfwd(lambda v: f(v, **p))(x))
    by_jacrev = jnp.diagonal(jax.jacrev(lambda v: f(v, **p))(x))
    for got in (by_grad, by_jacfwd, by_jacrev):
        close(got, want["x"], x64)
    for k in spec.FUNCTIONS[name].param_names:
        # Per-element partials: the parameter broadcast to x's shape.
        per_element = jax.jit(jax.grad(lambda q: f(x, **{**p, k: q}).sum()))(jnp.full(X.shape, p[k], jnp.float32))
        close(per_element, want[k], x64)
        scalar = jax.grad(lambda q: f(x, **{**p, k: q}).sum())(jnp.float32(p[k]))
        assert scalar.shape == () and scalar.dtype == jnp.float32
        np.testing.assert_allclose(float(scalar), float(np.sum(want[k].astype(np.float64))), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_second_derivative_in_x(name, x64):
    p = PARAMS[name]
    f = fn(name)
    want = getattr(reference, f"{name}_dxx")(X, **p)
    x = jnp.asarray(X)
    by_hessian = jax.vmap(jax.hessian(lambda s: f(s, **p)))(x)
    by_grad_grad = jax.jit(jax.grad(lambda v: jax.grad(lambda w: f(w, **p).sum())(v).sum()))(x)
    close(by_hessian, want, x64)
    close(by_grad_grad, want, x64)


def _fd_mixed(name, p, k, x, step=1e-6):
    """∂k ∂x f by a central difference of the float64 reference partial."""
    up = getattr(reference, f"{name}_grad")(x, **{**p, k: p[k] + step})["x"]
    down = getattr(reference, f"{name}_grad")(x, **{**p, k: p[k] - step})["x"]
    return (up - down) / (2 * step)


def _fd_second(name, p, k, x, step=1e-5):
    up = getattr(reference, f"{name}_grad")(x, **{**p, k: p[k] + step})[k]
    down = getattr(reference, f"{name}_grad")(x, **{**p, k: p[k] - step})[k]
    return (up - down) / (2 * step)


@pytest.mark.parametrize("name", ["swish", "sswish", "sgblend", "sgblend_gelu", "sgblend_gelu_tanh", "lambda_gelu"])
def test_mixed_and_parameter_second_derivatives(name, with_x64):
    """∂β∂x (reverse over reverse and forward over reverse) and ∂β² against finite differences."""
    p = PARAMS[name]
    f = fn(name)
    x64 = X.astype(np.float64)
    x = jnp.asarray(x64)
    for k in spec.FUNCTIONS[name].param_names:
        def slope(q):
            return jax.vmap(jax.grad(lambda s: f(s, **{**p, k: q})))(x)

        fd = _fd_mixed(name, p, k, x64)
        rev = jax.jacrev(slope)(jnp.float64(p[k]))
        fwd = jax.jacfwd(slope)(jnp.float64(p[k]))
        np.testing.assert_allclose(rev, fd, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(fwd, fd, rtol=1e-6, atol=1e-8)
        second = jax.vmap(jax.hessian(lambda q, s: f(s, **{**p, k: q})), in_axes=(None, 0))(jnp.float64(p[k]), x)
        np.testing.assert_allclose(second, _fd_second(name, p, k, x64), rtol=1e-5, atol=1e-8)


def test_mixed_second_derivative_float32(x64):
    """The same mixed derivative in float32, with x64 on and off."""
    p = PARAMS["sgblend"]
    x = jnp.asarray(X)
    got = jax.jacfwd(lambda b: jax.vmap(jax.grad(lambda s: sj.sgblend(s, **{**p, "beta": b})))(x))(jnp.float32(1.5))
    fd = _fd_mixed("sgblend", p, "beta", X.astype(np.float64))
    np.testing.assert_allclose(np.asarray(got, np.float64), fd, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_narrow_dtypes_round_once(dtype, with_x64):
    """With x64 on, float16/bfloat16/float32 values and partials equal the reference's
    float64-then-round-once results (at most 1 step apart where the erfc kernels differ)."""
    np_dtype = reference.supported_dtypes()[dtype]
    x = np.linspace(-12, 12, 97).astype(np_dtype)
    for name in ("sgblend", "lambda_gelu", "gelu"):
        p = PARAMS[name]
        got = np.asarray(fn(name)(jnp.asarray(x), **p))
        want = getattr(reference, name)(x, **p)
        assert got.dtype == np_dtype
        steps = np.abs(got.astype(np.float64) - want.astype(np.float64)) / np.spacing(
            np.maximum(np.abs(want.astype(np.float32)), np.finfo(np.float32).tiny)
        ).astype(np.float64)
        assert np.all(np.isclose(got.astype(np.float64), want.astype(np.float64), rtol=2.0 ** -7, atol=0)), name
        assert np.sum(got != want) <= 2, (name, dtype, steps.max())
        grad = jax.vmap(jax.grad(lambda s: fn(name)(s, **p)))(jnp.asarray(x))
        assert grad.dtype == np_dtype


def test_float32_subnormals_exact(with_x64):
    """XLA:CPU flushes subnormals in arithmetic; the conversions keep them, so tiny inputs
    and tiny results come out as the reference's correctly rounded values."""
    x = np.array([1e-45, -3e-45, 1.2e-40, -5.9e-39, 0.0, -0.0, -95.0, -100.0], np.float32)
    for name in ("swish", "sgblend", "gelu"):
        p = PARAMS[name]
        got = np.asarray(fn(name)(jnp.asarray(x), **p))
        np.testing.assert_array_equal(got.view(np.uint32), getattr(reference, name)(x, **p).view(np.uint32))
    xb = x.astype(ml_dtypes.bfloat16)
    got = np.asarray(sj.sgblend(jnp.asarray(xb), **PARAMS["sgblend"]))
    np.testing.assert_array_equal(got.view(np.uint16), reference.sgblend(xb, **PARAMS["sgblend"]).view(np.uint16))


def test_float64_matches_reference(with_x64):
    x = np.linspace(-30, 30, 241)
    for name in FUNCTIONS:
        p = PARAMS[name]
        got = np.asarray(fn(name)(jnp.asarray(x), **p))
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, getattr(reference, name)(x, **p), rtol=1e-13, atol=1e-300)


def _float64_ulps(got: np.ndarray, exact: list) -> np.ndarray:
    """|got - exact| in ULPs of float64 at the exact value (mpmath numbers)."""
    import mpmath

    return np.array([float(abs(mpmath.mpf(float(g)) - e) / np.spacing(abs(float(e)))) for g, e in zip(got, exact)])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_erfc_within_its_bounds_where_xla_is_not(with_x64, dtype):
    """XLA's erfc cancels below t = 1 (up to 9 ULP in float64, 7 in float32) and rounds t²
    before its exponential in the tail (~340 / 60 ULP); the namespace's erfc
    (sgblend_spec.erfc_taylor_table) is within 1 ULP on the float64 erfc table and 3 on the
    erfcx one, and within 3 ULP in float32 on [0, 9) (XLA's exp is within 1)."""
    import mpmath

    from sgblend_spec import erfc_taylor_table as tables

    double = dtype == "float64"
    rng = np.random.default_rng(0)
    spacing = np.spacing if double else (lambda v: np.spacing(np.float32(v)))
    ranges = (((tables.erfc_table().lo, tables.erfc_table().hi), 1, 4),
              ((tables.erfcx_table().lo, tables.erfcx_table().hi), 3, 10)) if double else (
              ((0.0, 2.0), 3, 4), ((2.0, tables.ERFCX_FLOAT32_HI), 3, 10))
    for (lo, hi), bound, xla_worse in ranges:
        t = np.concatenate([rng.uniform(lo, hi, 1500), np.arange(lo, hi, 0.125)]).astype(dtype)
        with mpmath.workdps(40):
            exact = [mpmath.erfc(mpmath.mpf(float(v))) for v in t]
        normal = [e >= np.finfo(dtype).tiny for e in exact]  # XLA:CPU flushes subnormal results
        t, exact = t[normal], [e for e, n in zip(exact, normal) if n]

        def ulps(got):
            return max(float(abs(mpmath.mpf(float(g)) - e) / mpmath.mpf(float(spacing(float(e))))) for g, e in zip(got, exact))

        assert ulps(np.asarray(sj.NAMESPACE.erfc(jnp.asarray(t)))) <= bound
        assert ulps(np.asarray(jax.scipy.special.erfc(jnp.asarray(t)))) > xla_worse  # why it exists


def test_float64_gelu_at_the_fuzz_finding(with_x64):
    from sgblend_spec import mp

    x = -1.293829910719026
    got = np.asarray(sj.gelu(jnp.asarray([x])))
    assert _float64_ulps(got, [mp.evaluate("gelu", x, {})["value"][0]]).max() <= 3


def test_vmap_over_parameters_and_broadcasting(x64):
    """Per-channel parameters broadcast against x; vmap over a batch of parameter sets."""
    x = jnp.asarray(np.linspace(-3, 3, 12, dtype=np.float32).reshape(4, 3))
    beta = jnp.asarray([0.5, 1.0, 2.0], jnp.float32)
    per_channel = sj.sgblend(x, alpha=0.2, beta=beta, gamma=0.1)
    assert per_channel.shape == (4, 3)
    for c in range(3):
        close(per_channel[:, c], sj.sgblend(x[:, c], alpha=0.2, beta=float(beta[c]), gamma=0.1), x64, ulps=1)
    lams = jnp.asarray([1.0, 2.0, 5.0], jnp.float32)
    batched = jax.vmap(lambda lam: sj.lambda_gelu(x, lam=lam))(lams)
    assert batched.shape == (3, 4, 3)
    close(batched[2], sj.lambda_gelu(x, lam=5.0), x64, ulps=1)
    grads = jax.vmap(jax.grad(lambda lam: sj.lambda_gelu(x, lam=lam).sum()))(lams)
    want = [np.sum(reference.lambda_gelu_grad(np.asarray(x), lam=float(v))["lam"].astype(np.float64)) for v in lams]
    np.testing.assert_allclose(np.asarray(grads, np.float64), want, rtol=1e-4)


def test_x64_switch_retraces():
    """One jitted function serves both modes: it is retraced when x64 changes."""
    f = jax.jit(lambda x: sj.lambda_gelu(x, lam=1.3125, precision="exact" if jax.config.jax_enable_x64 else "fast"))
    x = np.array([-8.5, -1.0, 2.0], np.float32)
    with jax.enable_x64(True):
        on = np.asarray(f(jnp.asarray(x)))
        assert sj.working_dtype(jnp.float32, "exact") == jnp.float64
    with jax.enable_x64(False):
        off = np.asarray(f(jnp.asarray(x)))
        assert sj.working_dtype(jnp.float32, "exact") == jnp.float32
    np.testing.assert_array_equal(on.view(np.uint32), reference.lambda_gelu(x, lam=1.3125).view(np.uint32))
    np.testing.assert_allclose(off, on, rtol=1e-5)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("name", FUNCTIONS)
def test_bad_parameters_raise_naming_them(name):
    record = spec.FUNCTIONS[name]
    x = jnp.linspace(-1, 1, 5)
    for p in record.params:
        bad = [math.nan, math.inf]
        if math.isfinite(p.domain.lo):
            bad.append(p.domain.lo - 0.5)
        for value in bad:
            with pytest.raises(ValueError, match=f"'{p.name}'"):
                fn(name)(x, **{**PARAMS[name], p.name: value})
            with pytest.raises(ValueError, match=f"'{p.name}'"):
                fn(name)(x, **{**PARAMS[name], p.name: jnp.asarray(value, jnp.float32)})


@pytest.mark.parametrize("name", ["swish", "sgblend", "lambda_gelu"])
def test_traced_bad_parameter_gives_nan_everywhere(name, x64):
    """Inside jit a parameter cannot raise: every output element and derivative is NaN."""
    record = spec.FUNCTIONS[name]
    p = record.params[-1] if name != "sgblend" else record.params[1]
    bad = p.domain.lo - 1.0 if math.isfinite(p.domain.lo) else math.inf
    x = jnp.linspace(-1, 1, 5)

    def f(q):
        return fn(name)(x, **{**PARAMS[name], p.name: q})

    assert np.all(np.isnan(jax.jit(f)(bad)))
    assert np.isnan(jax.jit(jax.grad(lambda q: f(q).sum()))(bad))

    def slope(q):
        return jax.vmap(jax.grad(lambda s: fn(name)(s, **{**PARAMS[name], p.name: q})))(x)

    assert np.all(np.isnan(jax.jit(slope)(bad)))
    assert np.all(np.isnan(jax.jit(jax.jacfwd(slope))(bad)))
    good = PARAMS[name][p.name]
    assert np.all(np.isfinite(jax.jit(f)(good)))


def test_bad_inputs():
    with pytest.raises(TypeError, match="x must be"):
        sj.sgblend(jnp.arange(3))
    with pytest.raises(TypeError, match="unexpected parameter"):
        sj.sgblend(jnp.ones(3), lam=2.0)
    with pytest.raises(TypeError, match="'beta'"):
        sj.swish(jnp.ones(3), beta=jnp.asarray(1))
    with jax.enable_x64(False):
        with pytest.raises(TypeError, match="jax_enable_x64"):
            sj.gelu(np.ones(3, np.float64))
    with pytest.raises(TypeError, match="x must be"):
        sj.gelu(np.ones(3, np.int32))


def test_bfloat16_parameters_accepted(with_x64):
    x = jnp.asarray(np.linspace(-2, 2, 5), jnp.bfloat16)
    out = sj.sswish(x, beta=jnp.asarray(1.5, jnp.bfloat16), gamma=jnp.asarray(0.25, jnp.bfloat16))
    want = reference.sswish(np.asarray(x), beta=1.5, gamma=0.25)
    np.testing.assert_array_equal(np.asarray(out).view(np.uint16), want.view(np.uint16))


# ----------------------------------------------------------------------------- chunked CPU loop
@pytest.mark.parametrize("size", [33, 41, 64])
def test_chunked_evaluation_matches_reference(size, monkeypatch, with_x64):
    """Inputs above 4·CPU_CHUNK go through the chunk loop (last chunk clamped, overlapping);
    a tiny chunk exercises it, with per-element parameters chunked alongside x."""
    monkeypatch.setattr(sj.numerics, "CPU_CHUNK", 8)
    x = np.linspace(-9, 9, size).astype(np.float32)
    beta = np.linspace(0.5, 3.0, size).astype(np.float32)
    p = {"alpha": 0.375, "gamma": -0.25}
    p["precision"] = "exact"  # bitwise to the exact reference, chunked or not
    f = jax.jit(lambda v, b: sj.sgblend(v, beta=b, **p))
    got = np.asarray(f(jnp.asarray(x), jnp.asarray(beta)))
    exact = {k: v for k, v in p.items() if k != "precision"}
    want = reference.sgblend(x, beta=beta.astype(np.float64), **exact)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
    grads = jax.jit(jax.grad(lambda v, b: sj.sgblend(v, beta=b, **p).sum(), argnums=(0, 1)))(jnp.asarray(x), jnp.asarray(beta))
    want_grad = reference.sgblend_grad(x, beta=beta.astype(np.float64), **exact)
    close(grads[0], want_grad["x"], True, ulps=0)
    close(grads[1], want_grad["beta"], True, ulps=0)
    rows = jax.vmap(lambda v: sj.lambda_gelu(v, lam=2.0, precision="exact"))(jnp.asarray(np.stack([x, -x])))
    close(rows[1], reference.lambda_gelu(-x, lam=2.0), True, ulps=0)
    dxx = jax.jit(jax.vmap(jax.hessian(lambda s: sj.lambda_gelu(s, lam=2.0, precision="exact"))))(jnp.asarray(x))
    close(dxx, reference.lambda_gelu_dxx(x, lam=2.0), True, ulps=1)


@pytest.mark.parametrize("name", ["sgblend", "lambda_gelu", "gelu"])
def test_reverse_mode_keeps_only_x_and_the_parameters(name, with_x64):
    """jax.vjp's residuals are the inputs (x and the scalar parameters), not per-element partials."""
    x = jnp.linspace(-4, 4, 4096, dtype=jnp.float32)
    names = spec.FUNCTIONS[name].param_names
    params = tuple(jnp.float32(PARAMS[name][n]) for n in names)
    _, vjp = jax.vjp(lambda x, *p: getattr(sj, name)(x, **dict(zip(names, p))), x, *params)
    residuals = {id(a): a for a in jax.tree_util.tree_leaves(vjp) if isinstance(a, jax.Array)}
    big = [a for a in residuals.values() if a.size > 1]
    assert len(big) == 1 and big[0].dtype == x.dtype and np.array_equal(big[0], x)  # x itself, not f'(x)
    assert sum(a.nbytes for a in residuals.values()) <= x.nbytes + 8 * len(params) + 8
