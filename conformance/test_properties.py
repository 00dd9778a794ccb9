"""Special values, symmetry identities, shape/dtype preservation and parameter errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conformance import strategies
from conformance.checks import evaluate
from conformance.ulp import ulp_distance
from sgblend_spec import spec
from sgblend_spec.mp import FORMATS


def test_special_values(impl, function, dtype):
    """The spec's table: values at ±0, limits at ±inf, NaN in → NaN out, for every quantity."""
    failures = []
    for params in strategies.cases_for(impl, function, dtype):
        rows = spec.FUNCTIONS[function].special_values(params)
        xs = np.array([x for x, _, _ in rows], dtype=np.float64).astype(strategies.np_dtype(dtype))
        got = evaluate(impl, function, xs, params)
        for i, (x, quantity, expected) in enumerate(rows):
            if got[quantity] is None:
                continue
            value = float(got[quantity][i])
            want = float(np.asarray(expected).astype(strategies.np_dtype(dtype)))
            same = (math.isnan(value) and math.isnan(want)) or value == want or (
                math.isfinite(want) and want != 0 and
                ulp_distance(np.array([value]).astype(xs.dtype), np.array([want]).astype(xs.dtype), dtype)[0]
                <= spec.ulp_bound(quantity, dtype)
            )
            # Signed zero: f(±0) keeps the sign of a zero value (x·σ(βx) at -0 is -0).
            if same and want == 0 and not math.isinf(x) and quantity == "value" and params.get("gamma", 0) == 0:
                same = math.copysign(1, value) == math.copysign(1, x)
            if not same:
                failures.append(f"{function}{params} {quantity} at x={x!r}: got {value!r}, spec {want!r}")
    assert not failures, "\n".join(failures[:10])


IDENTITY_X = [0.25, 0.5, 1.0, 1.2784645, 2.0, 3.5, 7.0, 11.0]


def test_first_order_symmetry(impl, function, dtype):
    """f(x) - f(-x) = x and f'(x) + f'(-x) = 1; f'' and every parameter partial are even."""
    xs = np.array(IDENTITY_X, dtype=np.float64).astype(strategies.np_dtype(dtype))
    for params in strategies.cases_for(impl, function, dtype):
        plus = evaluate(impl, function, xs, params)
        minus = evaluate(impl, function, -xs, params)
        x64 = xs.astype(np.float64)
        f_p, f_m = plus["value"].astype(np.float64), minus["value"].astype(np.float64)
        eps = 2.0 ** (1 - FORMATS[dtype].precision)
        # Each side carries ≤ 1 ULP: allow 2 ULPs of the larger magnitude.
        tol = 2 * eps * np.maximum(np.abs(f_p), np.abs(f_m))
        assert np.all(np.abs(f_p - f_m - x64) <= tol + 2 * eps * np.abs(x64)), (function, params, f_p - f_m - x64)
        if plus["x"] is not None:
            d = plus["x"].astype(np.float64) + minus["x"].astype(np.float64)
            assert np.all(np.abs(d - 1) <= 4 * eps), (function, params, d)
        # A partial that is a difference (∂α) may cancel: measure it against |f| + |x| + |γ|.
        magnitude = np.abs(f_p) + np.abs(x64) + abs(params.get("gamma", 0.0))
        for q in spec.FUNCTIONS[function].quantities[2:]:
            if plus[q] is None:
                continue
            a, b = plus[q].astype(np.float64), minus[q].astype(np.float64)
            scale = np.maximum(np.abs(a), np.abs(b)) if q != "alpha" else magnitude
            assert np.all(np.abs(a - b) <= 4 * eps * scale + 1e-300), (function, q, params, a - b)


@pytest.mark.parametrize("shape", [(), (0,), (7,), (3, 4), (2, 3, 5)])
def test_shape_and_dtype_preserved(impl, function, dtype, shape):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 4).astype(strategies.np_dtype(dtype))
    params = strategies.cases_for(impl, function, dtype)[0]
    for quantity, value in evaluate(impl, function, x, params).items():
        if value is None:
            continue
        assert value.shape == x.shape and value.dtype == x.dtype, (quantity, value.shape, value.dtype)
        assert np.all(np.isfinite(value.astype(np.float64))), quantity


def test_strided_input(impl, function, dtype):
    """A non-contiguous view gives the same numbers as its contiguous copy."""
    base = (np.linspace(-6, 6, 40).reshape(8, 5)).astype(strategies.np_dtype(dtype))
    view = base[::2, ::-2]
    params = strategies.cases_for(impl, function, dtype)[0]
    strided = evaluate(impl, function, view, params)
    contiguous = evaluate(impl, function, np.ascontiguousarray(view), params)
    for q in strided:
        if strided[q] is not None:
            np.testing.assert_array_equal(strided[q], contiguous[q], err_msg=q)


def _bad_values(parameter: spec.Parameter) -> list[float]:
    bad = [math.nan, math.inf, -math.inf]
    if math.isfinite(parameter.domain.lo):
        bad.append(parameter.domain.lo - 1.0 if parameter.domain.lo_closed else parameter.domain.lo)
    return bad


def test_bad_parameters_rejected(impl, function, dtype):
    """Every parameter outside its domain raises an error that names the parameter."""
    record = spec.FUNCTIONS[function]
    x = np.linspace(-2, 2, 5).astype(strategies.np_dtype(dtype))
    good = strategies.cases_for(impl, function, dtype)[0]
    fixed = getattr(impl, "fixed_params", {}).get(function, {})
    for parameter in record.params:
        if parameter.name in fixed:  # the implementation has no such parameter to check
            continue
        for bad in _bad_values(parameter):
            with pytest.raises(Exception) as info:
                impl.value(function, x, {**good, parameter.name: bad})
            assert parameter.name in str(info.value), (parameter.name, bad, str(info.value))
