"""Special values, symmetry identities, shape/dtype preservation and parameter errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from . import budget, strategies
from .checks import compare, evaluate, flushed_parameters, matches_table, ulp_bound
from .ulp import ulp_distance
from sgblend_spec import spec
from sgblend_spec.mp import FORMATS


def _flushes(impl, dtype: str) -> bool:
    return dtype in getattr(impl, "flushes_subnormals", ())


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
            if not matches_table(x, quantity, value, expected, params, dtype, _flushes(impl, dtype)):
                failures.append(f"{function}{params} {quantity} at x={x!r}: got {value!r}, spec {expected!r}")
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


@pytest.mark.input_contract
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
            try:
                impl.value(function, x, {**good, parameter.name: bad})
            except Exception as error:
                assert parameter.name in str(error), f"{parameter.name}={bad}: the error does not name it: {error}"
            else:
                pytest.fail(f"{parameter.name}={bad}: no error raised", pytrace=False)


# ----------------------------------------------------------------------------- input contract
# spec.INPUT_CONTRACT, as far as it can be checked through the adapter protocol.
NON_FLOATING = ("int8", "int32", "int64", "uint8", "bool", "complex64", "complex128")


@pytest.mark.input_contract
@pytest.mark.parametrize("bad_dtype", NON_FLOATING)
def test_non_floating_x_rejected(impl, function, bad_dtype):
    """Clause "x.dtype": integer, bool and complex x raise TypeError; nothing is converted."""
    supported = [d for d in spec.DTYPES if d in impl.dtypes]
    params = strategies.cases_for(impl, function, supported[-1])[0]
    x = np.array([0, 1, 2]).astype(bad_dtype)
    try:
        impl.value(function, x, params)
    except TypeError as error:
        assert "dtype" in str(error), f"x of dtype {bad_dtype}: the TypeError does not say 'dtype': {error}"
    except Exception as error:
        pytest.fail(f"x of dtype {bad_dtype}: {type(error).__name__}, not TypeError: {error}", pytrace=False)
    else:
        pytest.fail(f"x of dtype {bad_dtype}: no error raised", pytrace=False)


@pytest.mark.input_contract
def test_parameter_arrays_broadcast_per_channel(impl, function, dtype):
    """Clauses "param.shape", "param.dtype": parameters given as arrays of shape (C,) (one in
    float64, the others in x's dtype) act per channel on x of shape (N, C) as the scalar
    parameters do on each column (within the value's ULP bound, clause "x.shape"); a parameter that does not broadcast to x's shape,
    or would enlarge the result, raises an error naming it. Implementations opt in with
    ``array_parameters = True`` (see conformance/adapters/__init__.py)."""
    if not getattr(impl, "array_parameters", False):
        pytest.skip(f"{impl.name} does not declare array_parameters")
    np_type = strategies.np_dtype(dtype)
    cases = strategies.cases_for(impl, function, dtype)
    channels = [cases[c % len(cases)] for c in range(3)]
    x = np.linspace(-6, 6, 15).reshape(5, 3).astype(np_type)
    names = spec.FUNCTIONS[function].param_names
    arrays = {n: np.array([case[n] for case in channels], dtype=np.float64 if i == 0 else np_type)
              for i, n in enumerate(names)}
    got = impl.value(function, x, arrays)
    assert got.shape == x.shape and got.dtype == x.dtype, (got.shape, got.dtype)
    for c, case in enumerate(channels):
        column = impl.value(function, np.ascontiguousarray(x[:, c]), case)
        apart = ulp_distance(np.ascontiguousarray(got[:, c]), column, dtype)
        assert np.all(apart <= ulp_bound("value", dtype)), (c, case, got[:, c], column)  # "x.shape"
    for n in names:
        for bad, xs in ((np.ones(4), x), (np.ones((5, 1)), x[0])):
            with pytest.raises(Exception) as info:
                impl.value(function, xs, {**cases[0], n: bad.astype(np_type) * cases[0][n]})
            assert n in str(info.value), (n, bad.shape, str(info.value))


SPECIAL_X = (0.0, -0.0, math.inf, -math.inf, math.nan)


@pytest.mark.hypothesis_budget
def test_random_elementwise(impl, function, dtype, request):
    """Hypothesis, clauses "x.special", "x.shape": with random parameters, every element's
    value and derivatives depend on that element only (not on its position
    or its neighbours, NaN and ±inf among them: the same, within the quantity's ULP bound, in
    the array and reversed with its special elements replaced; one shape, so that a compiling
    implementation compiles once), and ±0, ±inf and NaN follow the spec's special-value table."""
    np_type = strategies.np_dtype(dtype)
    element = st.one_of(strategies.floats(dtype), strategies.moderate(dtype), st.sampled_from(SPECIAL_X))
    record = spec.FUNCTIONS[function]

    # Two evaluations of every quantity per example: fewer examples in CI than test_random.
    @settings(**budget.settings_kwargs(ci_examples=15))
    @given(values=st.lists(element, min_size=8, max_size=8),
           params=strategies.parameters_for(impl, function, dtype))
    def check(values, params):
        budget.count(request.node.nodeid)
        flat = np.array(values, dtype=np.float64).astype(np_type)
        wide = flat.astype(np.float64)
        special = ~np.isfinite(wide) | (wide == 0)
        calm = np.where(special, np.ones_like(flat), flat)[::-1].copy()
        grid = evaluate(impl, function, flat, params)
        alone = evaluate(impl, function, calm, params)
        table = {}
        for x, quantity, expected in record.special_values(_as_read(impl, params, dtype)):
            table[(_kind(x), quantity)] = expected
        failures = []
        for quantity, got in grid.items():
            if got is None:
                continue
            assert got.shape == (8,) and got.dtype == np_type, (quantity, got.shape, got.dtype)
            other = np.ascontiguousarray(alone[quantity][::-1])
            apart = ulp_distance(got, other, dtype)  # NaN against NaN is 0
            for i in range(8):
                x = float(wide[i])
                if special[i]:
                    expected = table[(_kind(x), quantity)]
                    if x == 0 and math.isfinite(expected) and expected != 0:
                        continue  # a number at ±0: measured against the oracle below
                    if not matches_table(x, quantity, float(got[i]), expected, params, dtype, _flushes(impl, dtype)):
                        failures.append(f"{quantity} at x={x!r}: got {float(got[i])!r}, spec {expected!r}")
                elif apart[i] > ulp_bound(quantity, dtype):
                    failures.append(f"{quantity} at x={x!r}: {float(got[i])!r} inside {flat.tolist()} but "
                                    f"{float(alone[quantity][::-1][i])!r} inside {calm[::-1].tolist()}")
        zeros = np.unique(flat[wide == 0].view(f"u{flat.dtype.itemsize}")).view(np_type)
        if zeros.size:  # the tolerance model of the accuracy tests
            failures += compare(impl, function, dtype, zeros, params)
        assert not failures, f"{function}{params}:\n" + "\n".join(failures[:10])

    check()


def _as_read(impl, params: dict, dtype: str) -> dict:
    """The parameters as an implementation that flushes subnormals in ``dtype`` reads them
    (a subnormal is a signed 0: the flush-to-zero tier of conformance/ulp.py)."""
    return flushed_parameters(params, dtype) if _flushes(impl, dtype) else params


def _kind(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if x == 0:
        return "-0" if math.copysign(1, x) < 0 else "+0"
    return "+inf" if x > 0 else "-inf"
