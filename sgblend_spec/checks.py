"""Checks shared by the NumPy reference and every backend: the input contract in code.

:data:`sgblend_spec.spec.INPUT_CONTRACT` states the contract as data; this module raises its
errors. Messages name the function (or layer) and the argument, and give the allowed range.
Nothing here imports a framework: a backend passes arrays through ``numpy.asarray`` only
when it has already read them on the host, and builds its in-graph masks with
:func:`domain_mask` from its own ``isfinite``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np

from sgblend_spec.spec import DTYPES, FUNCTIONS, PRECISIONS, REALS, Parameter, trainable


def validate(name: str, params: Mapping[str, object]) -> dict[str, float]:
    """Bind and check parameters; a bad one raises ValueError naming it and its domain."""
    record = FUNCTIONS[name]
    bound = record.bind(params)
    for p in record.params:
        _check_parameter(name, p, bound[p.name])
    return bound


def _check_parameter(function: str, p: Parameter, value: object) -> None:
    # Python ints are accepted as numbers; integer, bool and complex *arrays* are not.
    is_python_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_python_number and not hasattr(value, "dtype"):  # a list, str, bool, complex...
        raise TypeError(
            f"{function}: parameter '{p.name}' must be a real number or a floating-point array, "
            f"got {type(value).__name__}"
        )
    arr = np.asarray(value)
    # ml_dtypes.bfloat16 is a float that NumPy files under kind 'V'.
    if not is_python_number and arr.dtype.kind != "f" and arr.dtype.name != "bfloat16":
        raise TypeError(
            f"{function}: parameter '{p.name}' must be real floating point, got dtype {arr.dtype}"
        )
    as64 = arr.astype(np.float64)
    bad = as64[~domain_mask(p, as64, np.isfinite)]
    if bad.size:
        raise ValueError(f"{domain_message(function, p)}, got {float(bad[0])!r}")


def domain_mask(parameter: Parameter, t: Any, isfinite: Callable[[Any], Any]) -> Any:
    """Elementwise: is ``t`` finite and inside ``parameter``'s domain? Written with the array's
    own comparison and ``&`` operators, so it serves NumPy, torch, TensorFlow and JAX arrays
    (traced ones included)."""
    domain = parameter.domain
    ok = isfinite(t)
    if math.isfinite(domain.lo):
        ok = ok & ((t >= domain.lo) if domain.lo_closed else (t > domain.lo))
    if math.isfinite(domain.hi):
        ok = ok & ((t <= domain.hi) if domain.hi_closed else (t < domain.hi))
    return ok


def domain_message(function: str, parameter: Parameter) -> str:
    """The error message of an out-of-domain parameter (constant: compiled asserts embed it)."""
    return f"{function}: parameter '{parameter.name}' must be a finite value in {parameter.domain}"


_FLOAT_NAMES = "float16, bfloat16, float32 or float64"


def check_x_dtype(function: str, dtype_name: str) -> None:
    """Raise the contract's TypeError unless ``dtype_name`` is one of :data:`DTYPES`."""
    if dtype_name not in DTYPES:
        raise TypeError(
            f"{function}: x must be a floating-point array (x must have dtype {_FLOAT_NAMES}), "
            f"got dtype {dtype_name}"
        )


def x_type_error(function: str, value: object, framework: str) -> TypeError:
    """The contract's TypeError for an ``x`` that is not an array (clause "x.type")."""
    return TypeError(
        f"{function}: x must be a floating-point array (a {framework} array or a NumPy array of "
        f"dtype {_FLOAT_NAMES}), got {type(value).__name__}; Python numbers and sequences have "
        f"no dtype: convert them with an explicit one, e.g. numpy.float32(...)"
    )


def check_parameter_shape(function: str, name: str, shape: tuple, x_shape: tuple) -> None:
    """Raise ValueError unless a parameter of ``shape`` broadcasts to ``x_shape`` itself."""
    shape, x_shape = tuple(shape), tuple(x_shape)
    fits = len(shape) <= len(x_shape) and all(
        p == 1 or p == x for p, x in zip(reversed(shape), reversed(x_shape))
    )
    if not fits:
        raise ValueError(
            f"{function}: parameter '{name}' of shape {shape} does not broadcast to x's shape "
            f"{x_shape}; a parameter is a scalar or an array that broadcasts to x's shape (e.g. (C,) "
            f"for channels last), and the result has x's shape"
        )


def check_initial_value(layer: str, parameter: Parameter, value: object, label: str | None = None) -> float:
    """An explicit initial value of a layer parameter (clause "layer.init"), as a float.

    It must be a Python int or float or a NumPy floating scalar (TypeError otherwise) inside
    the parameter's constraint, or its domain if it has none (ValueError otherwise). The
    messages read "{layer}: {label} must ...", ``label`` defaulting to the parameter's name.
    """
    label = label or parameter.name
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        raise TypeError(f"{layer}: {label} must be a real number, got {type(value).__name__} {value!r}")
    interval = parameter.constraint or parameter.domain
    number = float(value)
    if number not in interval:
        raise ValueError(f"{layer}: {label} must be a finite value in {interval}, got {value!r}")
    return number


def check_parameter_dtype(layer: str, dtype_name: str) -> None:
    """A layer's parameters are stored in a real floating dtype (clause "layer.init")."""
    if dtype_name not in DTYPES:
        raise TypeError(f"{layer}: parameters must have dtype {_FLOAT_NAMES}, got {dtype_name}")


def check_loaded(layer: str, function: str, raw: str, values: object, shape: tuple | None = None) -> None:
    """Check a trainable parameter being loaded into a layer (clause "layer.load").

    ``values`` is array-like (NumPy, or anything ``numpy.asarray`` reads); ``shape`` the layer's
    shape for it, if it has one. Raises TypeError for a dtype that is not real floating and
    ValueError for a wrong shape or a value outside the function's domain, naming ``raw``.
    """
    parameter = trainable(function).get(raw)  # None: a layer-specific weight, e.g. Keras' direct "a"
    arr = np.asarray(values)
    if arr.dtype.kind != "f" and arr.dtype.name != "bfloat16":
        raise TypeError(f"{layer}: loaded parameter '{raw}' must be real floating point, got dtype {arr.dtype}")
    if shape is not None and tuple(arr.shape) != tuple(shape):
        raise ValueError(f"{layer}: loaded parameter '{raw}' has shape {tuple(arr.shape)}, the layer's is {tuple(shape)}")
    flat = arr.astype(np.float64).ravel()
    if parameter is None:
        parameter = Parameter(raw, raw, REALS, 0.0, "")
    mapped = flat if raw == parameter.name else np.array([parameter.reparam.forward(float(v)) for v in flat])
    for v, m in zip(flat, mapped):
        if not (math.isfinite(v) and float(m) in parameter.domain):
            where = "" if raw == parameter.name else f" (so that {parameter.name} is in {parameter.domain})"
            raise ValueError(f"{layer}: loaded parameter '{raw}' must be finite{where}, got {float(v)!r}")


def check_precision(function: str, precision: object) -> str:
    """``precision`` if it is one of :data:`sgblend_spec.spec.PRECISIONS`; ValueError naming it."""
    if precision not in PRECISIONS:
        raise ValueError(f"{function}: precision must be one of {list(PRECISIONS)}, got {precision!r}")
    return precision
