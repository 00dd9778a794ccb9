"""Inputs: fixed grids spanning every magnitude, parameter edge cases, Hypothesis strategies."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from sgblend_spec import spec
from sgblend_spec.mp import FORMATS
from sgblend_spec.reference import supported_dtypes

#: Parameter sets per function: domain edges, the authors' defaults and their init range
#: (negative beta), the three-critical-point SG-Blend, beta = k (α-partial cancels).
PARAMETER_CASES: dict[str, list[dict[str, float]]] = {
    "swish": [{"beta": 1.0}, {"beta": 0.0}, {"beta": 0.1}, {"beta": 1.702}, {"beta": 10.0}, {"beta": 100.0}],
    "sswish": [
        {"beta": 1.0, "gamma": 0.0},
        {"beta": 0.1, "gamma": 0.5},
        {"beta": 10.0, "gamma": -1.0},
        {"beta": -1.5, "gamma": 0.25},
        {"beta": 0.3193, "gamma": 100.0},
        {"beta": 1.702, "gamma": 1e-3},
    ],
    "sgblend": [
        {"alpha": 0.0, "beta": 1.0, "gamma": 0.0},
        {"alpha": -1.0, "beta": 0.3193, "gamma": 0.0},
        {"alpha": 1.0, "beta": 10.0, "gamma": -0.5},
        {"alpha": 0.5, "beta": 0.1, "gamma": 2.0},
        {"alpha": -5.0, "beta": -1.2, "gamma": 0.1},
        {"alpha": 0.0, "beta": 1.702, "gamma": 0.0},
    ],
    "lambda_gelu": [{"lam": 1.0}, {"lam": 1.0 + math.log(2.0)}, {"lam": 2.5}, {"lam": 10.0}, {"lam": 1000.0}],
}
PARAMETER_CASES["sgblend_gelu"] = PARAMETER_CASES["sgblend"]
PARAMETER_CASES["sgblend_gelu_tanh"] = PARAMETER_CASES["sgblend"]
for _name in ("gelu", "gelu_tanh", "gelu_sigmoid"):
    PARAMETER_CASES[_name] = [{}]


def np_dtype(dtype: str) -> np.dtype:
    return supported_dtypes()[dtype]


def representable(value: float, dtype: str) -> float:
    """``value`` rounded to ``dtype`` (so that parameters mean the same thing everywhere)."""
    return float(np.asarray(value, dtype=np.float64).astype(np_dtype(dtype)).astype(np.float64))


def parameter_cases(function: str, dtype: str) -> list[dict[str, float]]:
    cases = []
    for case in PARAMETER_CASES[function]:
        rounded = {k: representable(v, dtype) for k, v in case.items()}
        if rounded not in cases:
            cases.append(rounded)
    return cases


def _limits(dtype: str) -> tuple[float, float, float]:
    fmt = FORMATS[dtype]
    largest = float(fmt.max)
    tiny = math.ldexp(1.0, fmt.emin)
    smallest = math.ldexp(1.0, fmt.emin - fmt.precision + 1)
    return smallest, tiny, largest


def grid(dtype: str, params: dict[str, float]) -> np.ndarray:
    """Fixed inputs: every magnitude (subnormal to max), both signs, the exp-overflow points
    scaled by the parameters, the critical points, and a dense stretch around the origin."""
    smallest, tiny, largest = _limits(dtype)
    magnitudes = [smallest, 3 * smallest, tiny / 2, tiny, largest / 2, largest]
    lo, hi = math.log10(smallest), math.log10(largest)
    with np.errstate(over="ignore"):  # the top of the float64 range rounds past max
        magnitudes += list(10 ** np.linspace(lo, hi, 48))
    if largest > 1e30:
        magnitudes += list(10.0 ** np.arange(-30, 31, 3))
    log_max = math.log(largest)
    slopes = [abs(v) for k, v in params.items() if k in ("beta", "lam") and v != 0] + [1.0, 1.702]
    for s in slopes:
        magnitudes += [log_max / s, math.sqrt(2 * log_max) / s, 1.2784645 / s, 0.7517915 / s, 2.3994 / s]
    magnitudes += list(np.linspace(0.0, 8.0, 33)) + list(np.linspace(8.0, 40.0, 17))
    values = np.array([m for m in magnitudes if 0 <= m <= largest], dtype=np.float64)
    values = np.concatenate([values, -values, [0.0, -0.0]])
    out = values.astype(np_dtype(dtype))
    out = out[np.isfinite(out.astype(np.float64))]
    return np.unique(out.view(f"u{out.dtype.itemsize}")).view(out.dtype)


def floats(dtype: str) -> st.SearchStrategy[float]:
    """Every finite value of ``dtype``, subnormals included, both signs."""
    if dtype == "bfloat16":
        return st.floats(width=32, allow_nan=False, allow_infinity=False, allow_subnormal=True).map(
            lambda v: representable(v, "bfloat16")
        ).filter(math.isfinite)
    width = {"float16": 16, "float32": 32, "float64": 64}[dtype]
    return st.floats(width=width, allow_nan=False, allow_infinity=False, allow_subnormal=True)


def moderate(dtype: str) -> st.SearchStrategy[float]:
    """Values in [-40, 40], where every function changes shape."""
    return st.floats(-40.0, 40.0, allow_nan=False).map(lambda v: representable(v, dtype))


def inputs(dtype: str) -> st.SearchStrategy[list[float]]:
    return st.lists(st.one_of(floats(dtype), moderate(dtype)), min_size=1, max_size=8)


def parameters(function: str, dtype: str) -> st.SearchStrategy[dict[str, float]]:
    """Parameters drawn from each domain (bounded where the layers bound them), in ``dtype``."""
    record = spec.FUNCTIONS[function]
    ranges = {"alpha": (-6.0, 6.0), "beta": (-2.0, 12.0), "gamma": (-4.0, 4.0), "lam": (1.0, 50.0)}
    if function == "swish":
        ranges["beta"] = (0.0, 12.0)
    fields = {
        p.name: st.floats(*ranges[p.name]).map(lambda v: representable(v, dtype)) for p in record.params
    }
    return st.fixed_dictionaries(fields).filter(
        lambda d: all(d[p.name] in p.domain for p in record.params)
    )


def _fixed(impl, function: str, dtype: str) -> dict[str, float] | None:
    """Parameters an implementation supports only at one value (``fixed_params``), rounded."""
    fixed = getattr(impl, "fixed_params", {}).get(function)
    return None if fixed is None else {k: representable(v, dtype) for k, v in fixed.items()}


def cases_for(impl, function: str, dtype: str) -> list[dict[str, float]]:
    """The parameter cases of ``function`` that ``impl`` supports."""
    fixed = _fixed(impl, function, dtype)
    return [fixed] if fixed is not None else parameter_cases(function, dtype)


def parameters_for(impl, function: str, dtype: str) -> st.SearchStrategy[dict[str, float]]:
    fixed = _fixed(impl, function, dtype)
    return st.just(fixed) if fixed is not None else parameters(function, dtype)
