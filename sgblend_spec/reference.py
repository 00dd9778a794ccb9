"""The NumPy reference: the stable formulas bound to NumPy arrays.

For every spec function NAME there are three functions::

    NAME(x, **params)        -> f, same dtype and shape as x
    NAME_grad(x, **params)   -> {"x": ∂f/∂x, param: ∂f/∂param, ...}, per element
    NAME_dxx(x, **params)    -> ∂²f/∂x²

Supported dtypes: float16, bfloat16 (ml_dtypes), float32 and float64. Every function takes
``precision="exact"`` (the default) or ``"fast"`` (``spec.PRECISIONS``, bounds in
``spec.ulp_bound``). "exact" evaluates inputs narrower than float64 in float64 and rounds
once to their dtype, which makes them correctly rounded except in rare double-rounding
cases (≤ 1 ULP); "fast" evaluates them in float32 arithmetic with the same compensated
formulas (float16 and bfloat16 rounded once from float32), as the framework backends do by
default. float64 is evaluated in float64 in both. Parameters may be
scalars or arrays that broadcast to ``x``'s shape (per-channel); they are checked against
the spec's domains and a bad one raises an error naming it.
"""

from __future__ import annotations

import numpy as np

from sgblend_spec import checks, formulas, spec
from sgblend_spec._namespace import numpy_namespace

_XP = numpy_namespace()
_WORKING = np.float64


def supported_dtypes() -> dict[str, np.dtype]:
    import ml_dtypes

    return {
        "float16": np.dtype(np.float16),
        "bfloat16": np.dtype(ml_dtypes.bfloat16),
        "float32": np.dtype(np.float32),
        "float64": np.dtype(np.float64),
    }


def _as_input(name: str, x: object) -> np.ndarray:
    """x as a NumPy array of a supported dtype (spec.INPUT_CONTRACT "x.type", "x.dtype")."""
    if not isinstance(x, (np.ndarray, np.generic)):
        raise checks.x_type_error(name, x, "NumPy")
    arr = np.asarray(x)
    checks.check_x_dtype(name, arr.dtype.name)
    return arr


def _round(result: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Round float64 results once to ``dtype`` (bfloat16 via round-to-odd float32, see below)."""
    if dtype == result.dtype:
        return result
    if dtype.name == "bfloat16":
        # float64 -> float32 -> bfloat16 would round twice. Rounding to float32 *to odd*
        # first (truncate, then set the last bit if anything was cut) makes the second
        # rounding correct, because float32 has more than 2 extra bits over bfloat16.
        as32 = result.astype(np.float32)
        back = as32.astype(np.float64)
        inexact = (back != result) & np.isfinite(result) & np.isfinite(as32)
        toward_zero = np.where(np.abs(back) > np.abs(result), np.nextafter(as32, np.float32(0)), as32)
        bits = toward_zero.view(np.uint32)
        odd = np.where(inexact, bits | np.uint32(1), as32.view(np.uint32)).view(np.float32)
        return odd.astype(dtype)
    return result.astype(dtype)


def _working(dtype: np.dtype, precision: str) -> type:
    """The arithmetic an input dtype is evaluated in under a precision tier."""
    return _WORKING if precision == "exact" or dtype == np.float64 else np.float32


def _evaluate(name: str, formula, x: object, params: dict[str, object], precision: str = "exact"):
    """``formula`` (one of FORMULAS[name]'s three) at a checked x and params, rounded once."""
    precision = checks.check_precision(name, precision)
    arr = _as_input(name, x)
    bound = checks.validate(name, params)
    for k, v in bound.items():
        checks.check_parameter_shape(name, k, np.shape(v), arr.shape)
    working = _working(arr.dtype, precision)
    # Parameters are rounded to the working type: a fast-tier user holds float32 weights.
    args = {k: np.asarray(v, dtype=working) for k, v in bound.items()}
    # where() evaluates both branches, and rounding may overflow to ±inf (the correctly
    # rounded result), so floating-point warnings carry no information here.
    with np.errstate(all="ignore"):
        out = formula(_XP.for_input(arr.dtype), arr.astype(working), **args)
        if isinstance(out, dict):
            return {k: _round(np.asarray(v, dtype=working), arr.dtype) for k, v in out.items()}
        return _round(np.asarray(out, dtype=working), arr.dtype)


def _bind(name: str, kind: str):
    """The public NumPy function for one formula of ``name``: kind is "value", "grad" or "dxx"."""
    record = spec.FUNCTIONS[name]
    formula = getattr(formulas.FORMULAS[name], kind)

    def function(x, *, precision="exact", **params):
        return _evaluate(name, formula, x, params, precision)

    signature = ", ".join(["x"] + [f"{p.name}={p.default!r}" for p in record.params] + ["precision='exact'"])
    partials = ", ".join(repr(q) for q in record.quantities[1:-1])
    function.__doc__ = {
        "value": f"{record.title}: {record.summary}.  {name}({signature})",
        "grad": f"Partials of {name} in x and each parameter, per element: dict keyed {partials}.",
        "dxx": f"Second derivative of {name} in x.",
    }[kind]
    function.__name__ = function.__qualname__ = name + {"value": "", "grad": "_grad", "dxx": "_dxx"}[kind]
    function.__module__ = __name__
    return function


swish = _bind("swish", "value")
swish_grad = _bind("swish", "grad")
swish_dxx = _bind("swish", "dxx")
gelu = _bind("gelu", "value")
gelu_grad = _bind("gelu", "grad")
gelu_dxx = _bind("gelu", "dxx")
gelu_tanh = _bind("gelu_tanh", "value")
gelu_tanh_grad = _bind("gelu_tanh", "grad")
gelu_tanh_dxx = _bind("gelu_tanh", "dxx")
gelu_sigmoid = _bind("gelu_sigmoid", "value")
gelu_sigmoid_grad = _bind("gelu_sigmoid", "grad")
gelu_sigmoid_dxx = _bind("gelu_sigmoid", "dxx")
sswish = _bind("sswish", "value")
sswish_grad = _bind("sswish", "grad")
sswish_dxx = _bind("sswish", "dxx")
sgblend = _bind("sgblend", "value")
sgblend_grad = _bind("sgblend", "grad")
sgblend_dxx = _bind("sgblend", "dxx")
sgblend_gelu = _bind("sgblend_gelu", "value")
sgblend_gelu_grad = _bind("sgblend_gelu", "grad")
sgblend_gelu_dxx = _bind("sgblend_gelu", "dxx")
sgblend_gelu_tanh = _bind("sgblend_gelu_tanh", "value")
sgblend_gelu_tanh_grad = _bind("sgblend_gelu_tanh", "grad")
sgblend_gelu_tanh_dxx = _bind("sgblend_gelu_tanh", "dxx")
lambda_gelu = _bind("lambda_gelu", "value")
lambda_gelu_grad = _bind("lambda_gelu", "grad")
lambda_gelu_dxx = _bind("lambda_gelu", "dxx")

__all__ = [n + s for n in spec.FUNCTIONS for s in ("", "_grad", "_dxx")] + ["supported_dtypes"]
