"""Issue #16: compensated arguments and tail-form differences, at the points that showed them."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from sgblend_spec import mp, reference, spec

from compensation_points import check_low_part_survives


def _reference(function, quantity, x, params, precision):
    if quantity == "value":
        return getattr(reference, function)(x, precision=precision, **params)
    if quantity == "dxx":
        return getattr(reference, function + "_dxx")(x, precision=precision, **params)
    return getattr(reference, function + "_grad")(x, precision=precision, **params)[quantity]


def _ulps64(got: float, want: float) -> int:
    a, b = np.array([got, want], dtype=np.float64).view(np.int64)
    a, b = (int(v) if v >= 0 else -(int(v) & 0x7FFFFFFFFFFFFFFF) for v in (a, b))
    return abs(a - b)


def test_the_fast_tier_keeps_the_low_part():
    check_low_part_survives(lambda f, q, x, p: _reference(f, q, x, p, "fast"))


def test_float64_compensations_and_rounding_chains_stay_within_bounds():
    """COMPENSATED_FLOAT64 and ROUNDING_FLOAT64 (chains of roundings that exceeded 4 ULP
    before the logistic's relative corrections) in the NumPy reference."""
    check_low_part_survives(lambda f, q, x, p: _reference(f, q, x, p, "exact"), "exact", "float64")


def test_the_logistic_keeps_the_sign_of_zero():
    """The relative corrections are +0 where they vanish: t + t·ρ must keep t = -0."""
    for precision in spec.PRECISIONS:
        for name in ("swish", "sgblend", "gelu_tanh", "gelu_sigmoid"):
            value = getattr(reference, name)(np.array([-0.0]), precision=precision)
            assert value[0] == 0 and np.signbit(value[0]), (name, precision)


def test_dalpha_at_x_40_float32_is_the_tail_difference():
    got = reference.sgblend_grad(np.float32([40.0]), alpha=0.0, beta=1.0, gamma=0.0)["alpha"]
    assert got[0] == np.float32(-4.2483542552888773e-17)  # correctly rounded (the head form gives 0)
    fast = reference.sgblend_grad(np.float32([40.0]), alpha=0.0, beta=1.0, gamma=0.0, precision="fast")["alpha"]
    assert abs(float(fast[0]) / -4.2483542552888773e-17 - 1) < 8 * 2.0**-24


def test_dalpha_at_x_30_float64():
    got = reference.sgblend_grad(np.array([30.0]), alpha=0.0, beta=1.0, gamma=0.0)["alpha"][0]
    want = mp.evaluate("sgblend", 30.0, {"alpha": 0.0, "beta": 1.0, "gamma": 0.0})["alpha"][0]
    assert _ulps64(got, mp.round_to(want, "float64")) <= spec.ulp_bound("alpha", "float64")
    assert abs(float(want) / -7.0182172216177748e-13 - 1) < 1e-15


@pytest.mark.parametrize("x", [1e-150, 1e-3, 0.5, 1.0, 20.0, 117.3, 700.0])
@pytest.mark.parametrize("beta", [1.0, 1.702, 1.7020000000000002, 2.0])
def test_dalpha_has_no_cancellation_at_beta_near_k(x, beta):
    params = {"alpha": 0.0, "beta": beta, "gamma": 0.0}
    got = reference.sgblend_grad(np.array([x]), **params)["alpha"][0]
    want = mp.round_to(mp.evaluate("sgblend", x, params)["alpha"][0], "float64")
    assert _ulps64(got, want) <= spec.ulp_bound("alpha", "float64"), (got, want)


# λ-GELU's tail at λ = 2.75 (v = λx ≈ -37.4): 2216 and 1501 ULP before the compensation.
@pytest.mark.parametrize("x, quantity, want", [
    (-13.557644110275689, "value", -2.0576102640266923e-303),
    (-13.501002506265664, "lam", 3.393226163719987e-298),
])
def test_lambda_gelu_tail_float64(x, quantity, want):
    got = _reference("lambda_gelu", quantity, np.array([x]), {"lam": 2.75}, "exact")[0]
    assert float(mp.evaluate("lambda_gelu", x, {"lam": 2.75})[quantity][0]) == pytest.approx(want, rel=1e-15)
    assert _ulps64(got, want) <= spec.ulp_bound(quantity, "float64")


def test_special_values_survive_the_compensation():
    for precision in spec.PRECISIONS:
        for dtype in (np.float32, np.float64):
            tiny, big = np.finfo(dtype).smallest_subnormal, np.finfo(dtype).max
            x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, tiny, -tiny, big, -big], dtype=dtype)
            for name in spec.FUNCTIONS:
                values = getattr(reference, name)(x, precision=precision)
                assert np.isnan(values[4]) and not np.isnan(np.delete(values, 4)).any(), (name, dtype)
                partials = getattr(reference, name + "_grad")(x, precision=precision)
                for key, v in partials.items():
                    assert not np.isnan(np.delete(v, 4)).any(), (name, key, dtype, v)
                dxx = getattr(reference, name + "_dxx")(x, precision=precision)
                assert not np.isnan(np.delete(dxx, 4)).any(), (name, dtype, dxx)


def test_precision_is_validated_and_fast_rounds_narrow_dtypes_once():
    with pytest.raises(ValueError, match="precision"):
        reference.gelu(np.float32([1.0]), precision="double")
    import ml_dtypes

    x = np.linspace(-6, 6, 101).astype(ml_dtypes.bfloat16)
    exact = reference.sgblend(x, precision="exact").astype(np.float32)
    fast = reference.sgblend(x, precision="fast").astype(np.float32)
    assert np.all(np.abs(exact - fast) <= np.abs(exact) * 2.0**-7 + 1e-38)


def test_tiers_as_data():
    assert spec.PRECISIONS == ("exact", "fast")
    assert spec.ulp_bound("value", "float32") == 1 and spec.ulp_bound("x", "float64") == 4
    assert spec.ulp_bound("value", "float32", "fast") == 4 and spec.ulp_bound("dxx", "float32", "fast") == 8
    assert spec.ulp_bound("value", "bfloat16", "fast") == 1 and spec.ulp_bound("value", "float64", "fast") == 2
    assert spec.ULP_BOUNDS == spec.TIER_BOUNDS["exact"]
    assert mpmath.mpf(1)  # the oracle is importable next to the tiers


@pytest.mark.parametrize("dtype, bound", [("float64", 1.5), ("float32", 2.5)])
def test_expm1_from_exp_and_arithmetic_is_accurate_everywhere(dtype, bound):
    """gates.expm1 replaces every framework's expm1 (inductor's vectorised one is exp - 1):
    within ~1 ULP where its polynomial applies, the namespace's exp error beyond."""
    from sgblend_spec._namespace import numpy_namespace
    from sgblend_spec.gates import expm1

    rng = np.random.default_rng(0)
    d = np.concatenate([rng.uniform(-1, 1, 1500), np.geomspace(1e-30, 1, 300), -np.geomspace(1e-30, 1, 300),
                        rng.uniform(-30, 30, 300)]).astype(dtype)
    got = expm1(numpy_namespace(), d)
    with mpmath.workdps(40):
        exact = [mpmath.expm1(mpmath.mpf(float(v))) for v in d]
    errors = [float(abs(mpmath.mpf(float(g)) - e) / float(np.spacing(np.abs(np.array(float(e), dtype)))))
              for g, e in zip(got, exact)]
    assert max(errors) <= bound
    special = expm1(numpy_namespace(), np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype))
    assert np.signbit(special[1]) and not np.signbit(special[0])
    assert special[2] == np.inf and special[3] == -1 and np.isnan(special[4])


def test_exp_split_carries_the_exponentials_own_error():
    """compensated.exp_split: e is the namespace's exp, e·(1 + ρ) is e^(z + z_lo) within
    0.2 ULP over the reduced range (the float64 value bound of 2 needs it: XLA's exp alone is
    1.3 ULP off); outside it, and in float32, ρ is z_lo."""
    from sgblend_spec._namespace import numpy_namespace
    from sgblend_spec.compensated import EXP_SPLIT_RANGE, exp_split

    xp = numpy_namespace()
    rng = np.random.default_rng(1)
    z = np.concatenate([rng.uniform(-EXP_SPLIT_RANGE, EXP_SPLIT_RANGE, 3000), rng.uniform(-1, 1, 500)])
    z_lo = z * rng.uniform(-2.0**-53, 2.0**-53, z.size)
    e, rho = exp_split(xp, z, z_lo)
    assert np.array_equal(e, np.exp(z))
    with mpmath.workdps(40):
        errors = [float(abs(mpmath.mpf(float(a)) * (1 + mpmath.mpf(float(r))) - mpmath.exp(mpmath.mpf(float(b)) + mpmath.mpf(float(c))))
                        / mpmath.mpf(float(np.spacing(a)))) for a, r, b, c in zip(e, rho, z, z_lo)]
    assert max(errors) <= 0.2
    outside = np.array([-700.0, 650.0, -np.inf, np.inf])
    e, rho = exp_split(xp, outside, np.array([1e-14, -1e-14, 0.0, 0.0]))
    assert np.array_equal(rho, [1e-14, -1e-14, 0.0, 0.0]) and np.array_equal(e, np.exp(outside))
    e32, rho32 = exp_split(xp, np.float32([-3.5]), np.float32([1e-8]))
    assert e32.dtype == np.float32 and rho32[0] == np.float32(1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_contraction_guard_is_the_product_itself(dtype):
    """compensated.rounded(p) = p + 0·finite(p) is p bit for bit (signed zeros, infinities,
    NaN, subnormals included), which is why a namespace whose arithmetic runs as written
    (``may_contract`` False: NumPy and torch's own CPU kernels) may skip it and
    still give the guarded namespace's numbers."""
    from dataclasses import replace

    from sgblend_spec._namespace import numpy_namespace
    from sgblend_spec.compensated import rounded, two_product

    as_written = numpy_namespace()
    guarded = replace(as_written, may_contract=True)
    assert not as_written.may_contract
    info = np.finfo(dtype)
    rng = np.random.default_rng(3)
    p = np.concatenate([np.array([0.0, -0.0, np.inf, -np.inf, np.nan, info.max, -info.max, info.smallest_subnormal,
                                  -info.smallest_subnormal, info.tiny, -info.tiny], dtype=dtype),
                        (rng.standard_normal(2000) * 10.0 ** rng.uniform(-40, 38, 2000)).astype(dtype)])
    with np.errstate(all="ignore"):
        kept = rounded(guarded, p)
        a, b = p[11:], p[11:][::-1].copy()
        pairs = [two_product(ns, a, b) for ns in (guarded, as_written)]
    assert kept.dtype == p.dtype and np.array_equal(kept.view(f"u{p.itemsize}"), p.view(f"u{p.itemsize}"))
    assert rounded(as_written, p) is p
    for got, want in zip(*pairs):
        assert np.array_equal(got, want, equal_nan=True)
