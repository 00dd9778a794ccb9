"""The NumPy reference: API shape, dtypes, parameters, errors, and the float64-then-round rule."""

from __future__ import annotations

import math
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

from sgblend_spec import mp, reference, spec

DTYPES = [np.float16, ml_dtypes.bfloat16, np.float32, np.float64]


@pytest.mark.parametrize("name", list(spec.FUNCTIONS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_function_has_value_grad_dxx_with_the_input_dtype(name, dtype):
    x = np.linspace(-5, 5, 11).astype(dtype)
    record = spec.FUNCTIONS[name]
    value = getattr(reference, name)(x)
    grad = getattr(reference, f"{name}_grad")(x)
    dxx = getattr(reference, f"{name}_dxx")(x)
    assert value.dtype == x.dtype and dxx.dtype == x.dtype and value.shape == x.shape
    assert set(grad) == {"x", *record.param_names}
    assert all(g.dtype == x.dtype and g.shape == x.shape for g in grad.values())


def test_narrow_dtypes_are_the_float64_result_rounded_once():
    x32 = np.linspace(-30, 30, 2001, dtype=np.float32)
    wide = reference.sgblend(x32.astype(np.float64), alpha=0.25, beta=1.5, gamma=0.5)
    np.testing.assert_array_equal(reference.sgblend(x32, alpha=0.25, beta=1.5, gamma=0.5), wide.astype(np.float32))


def test_bfloat16_rounding_is_correct_where_float32_double_rounding_is_not():
    # 1 + 2^-8 + 2^-30 rounds up in bfloat16, but via float32 it first becomes the tie
    # 1 + 2^-8, which then rounds to even (1.0).
    v = np.array([1 + 2.0**-8 + 2.0**-30])
    assert v.astype(np.float32).astype(ml_dtypes.bfloat16)[0] == 1.0
    assert reference._round(v, np.dtype(ml_dtypes.bfloat16))[0] == 1 + 2.0**-7


def test_per_channel_parameters_broadcast():
    x = np.linspace(-3, 3, 12).reshape(4, 3)
    beta = np.array([0.5, 1.0, 2.0])
    out = reference.sswish(x, beta=beta, gamma=0.1)
    for c in range(3):
        np.testing.assert_array_equal(out[:, c], reference.sswish(x[:, c], beta=beta[c], gamma=0.1))
    grad = reference.sswish_grad(x, beta=beta, gamma=0.1)
    assert grad["beta"].shape == x.shape  # per element; a binding sums over the batch


@pytest.mark.parametrize(
    "name, params, parameter, allowed",
    [
        ("lambda_gelu", {"lam": 0.5}, "lam", "[1, inf)"),
        ("lambda_gelu", {"lam": math.nan}, "lam", "[1, inf)"),
        ("sgblend", {"beta": math.inf}, "beta", "(-inf, inf)"),
        ("sgblend", {"alpha": math.nan}, "alpha", "(-inf, inf)"),
        ("sswish", {"gamma": -math.inf}, "gamma", "(-inf, inf)"),
        ("swish", {"beta": -1.0}, "beta", "[0, inf)"),
    ],
)
def test_bad_parameters_name_the_parameter_and_its_domain(name, params, parameter, allowed):
    with pytest.raises(ValueError) as info:
        getattr(reference, name)(np.zeros(3), **params)
    assert f"'{parameter}'" in str(info.value) and allowed in str(info.value)


def test_unknown_parameter_and_non_float_types_are_rejected():
    with pytest.raises(TypeError, match="lam"):
        reference.sgblend(np.zeros(3), lam=2.0)
    with pytest.raises(TypeError, match="x must be a floating-point array"):
        reference.gelu(np.arange(3))
    with pytest.raises(TypeError, match="x must be"):
        reference.gelu(np.zeros(3, dtype=complex))
    with pytest.raises(TypeError, match="'beta' must be real floating point"):
        reference.swish(np.zeros(3), beta=np.array([1, 2, 3]))
    with pytest.raises(TypeError, match="'beta'"):
        reference.swish(np.zeros(3), beta=True)
    assert reference.swish(np.zeros(3), beta=2).dtype == np.float64  # a Python int is a number
    bf16 = reference.swish(np.zeros(3, dtype=ml_dtypes.bfloat16), beta=np.array([1.5], dtype=ml_dtypes.bfloat16))
    assert bf16.dtype == ml_dtypes.bfloat16


def test_default_parameters_are_the_spec_defaults():
    x = np.linspace(-4, 4, 9)
    np.testing.assert_array_equal(reference.sgblend(x), reference.sgblend(x, alpha=0.0, beta=1.0, gamma=0.0))
    lam0 = spec.FUNCTIONS["lambda_gelu"].defaults["lam"]
    np.testing.assert_array_equal(reference.lambda_gelu(x), reference.lambda_gelu(x, lam=lam0))


def test_gelu_is_lambda_gelu_at_one_and_swish_is_sswish_without_shift():
    x = np.linspace(-8, 8, 101)
    np.testing.assert_array_equal(reference.gelu(x), reference.lambda_gelu(x, lam=1.0))
    np.testing.assert_array_equal(reference.swish(x, beta=1.3), reference.sswish(x, beta=1.3, gamma=0.0))
    # k is the decimal 1.702 (a two-term constant), β = 1.702 the float64 nearest it: they
    # differ by 4.3e-17, i.e. |kx|·2.5e-17 relative (a few ULPs at x = -8)
    np.testing.assert_allclose(reference.gelu_sigmoid(x), reference.swish(x, beta=1.702), rtol=1e-15, atol=0)


def test_known_values_against_the_oracle():
    for x in (-20.0, -1.0, 0.5, 3.0):
        assert reference.gelu(np.float64(x)) == pytest.approx(float(mp.value("gelu", x)), rel=1e-15)
        got = reference.sgblend_grad(np.float64(x), alpha=0.3, beta=2.0, gamma=0.1)["alpha"]
        assert got == pytest.approx(float(mp.derivative("sgblend", "alpha", x, alpha=0.3, beta=2.0, gamma=0.1)), rel=1e-14)


def test_the_stability_rules_hold_where_naive_forms_fail():
    """SPEC-NOTES: 1 - σ(20) is 0 in float32, erf-based Φ is 0 for x ≤ -6, (x·x)·φ overflows."""
    x = np.float32(-20.0)
    assert reference.swish_grad(x)["beta"] > 0  # x²σ(u)σ(-u), σ(-u) never 1 - σ(u)
    assert reference.gelu(np.float32(-7.0)) < 0  # erfc-based Φ
    assert math.isfinite(float(reference.lambda_gelu_grad(np.float16(300.0), lam=1.0)["lam"]))
    assert math.isfinite(float(reference.swish(np.float64(1000.0))))


@pytest.mark.parametrize("name", ["sgblend", "sgblend_gelu", "sgblend_gelu_tanh"])
def test_blend_beta_partial_has_no_intermediate_overflow(name):
    """∂β = a·x²σσ̄(βx) is finite (0.5·x²/4 ≈ 9e307) at x = 2.68e154, where x² alone
    overflows; found by ``nox -s fuzz`` (JAX, float64)."""
    x, params = 2.6815615859885194e154, {"alpha": 0.0, "beta": 0.0, "gamma": 0.0}
    got = float(getattr(reference, f"{name}_grad")(np.float64(x), **params)["beta"])
    assert got == pytest.approx(float(mp.derivative(name, "beta", x, **params)), rel=1e-15)


def test_importing_the_package_imports_no_framework():
    code = (
        "import sys, sgblend_spec, sgblend_spec.reference, sgblend_spec.mp, sgblend_spec.backends;"
        "bad = [m for m in ('torch', 'tensorflow', 'jax', 'keras', 'flax') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("kind", ["erfc", "erfcx"])
def test_erfc_taylor_tables_represent_their_function_beyond_the_working_precision(kind):
    """sgblend_spec.erfc_taylor_table (JAX's and TensorFlow's float64 erfc): on every interval
    the polynomial of float64 coefficients, summed exactly, is erfc (or erfcx) within a
    quarter of a ULP at the centre and both ends, and the linear term stays within a third of
    the constant one (so Horner adds ~one rounding)."""
    import mpmath

    from sgblend_spec import erfc_taylor_table as tables

    table = (tables.erfc_table if kind == "erfc" else tables.erfcx_table)()
    exact_of = mpmath.erfc if kind == "erfc" else (lambda t: mpmath.erfc(t) * mpmath.exp(t * t))
    assert table.rows[0][0] - table.width / 2 == table.lo and table.rows[-1][0] + table.width / 2 == table.hi
    with mpmath.workdps(40):
        for centre, low, *a in table.rows:
            assert abs(a[1]) * table.width / 2 <= abs(a[0]) / 3
            for h in (-table.width / 2, 0.0, table.width / 2):
                poly = mpmath.mpf(low) + sum(mpmath.mpf(v) * mpmath.mpf(h) ** n for n, v in enumerate(a))
                exact = exact_of(mpmath.mpf(centre) + h)
                assert abs(poly - exact) <= np.spacing(float(exact)) / 4, (centre, h)


def test_float32_erfcx_polynomials_are_erfcx_within_half_an_ulp():
    """ERFCX_FLOAT32 (JAX's and TensorFlow's float32 erfc): each polynomial of float32
    coefficients, summed exactly, is erfcx within half a float32 ULP on its interval (0.39
    measured: the fits are within 3e-9, the rest is the coefficients' rounding to float32)."""
    import mpmath

    from sgblend_spec import erfc_taylor_table as tables

    ends = (0.0, *tables.ERFCX_FLOAT32_BOUNDS, tables.ERFCX_FLOAT32_HI)
    with mpmath.workdps(40):
        for (centre, a), lo, hi in zip(tables.ERFCX_FLOAT32, ends[:-1], ends[1:]):
            assert all(np.float32(v) == v for v in a) and lo < centre < hi
            for t in np.linspace(lo, hi, 41):
                h = mpmath.mpf(t) - mpmath.mpf(centre)
                poly = sum(mpmath.mpf(v) * h**n for n, v in enumerate(a))
                exact = mpmath.erfc(mpmath.mpf(t)) * mpmath.exp(mpmath.mpf(t) ** 2)
                assert abs(poly - exact) <= float(np.spacing(np.float32(float(exact)))) / 2, (centre, t)