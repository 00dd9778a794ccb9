"""The input contract (``spec.INPUT_CONTRACT``) bound to TensorFlow, using :mod:`sgblend_spec.checks`.

``x`` is a tensor, variable or NumPy array (Python numbers and lists are a TypeError); a
parameter broadcasts to x's shape. In eager mode every parameter is checked against its spec
domain on each call (ValueError naming it and its interval). Inside a ``tf.function`` graph a
tensor parameter is checked by a ``tf.debugging.Assert`` (InvalidArgumentError at run time,
naming the parameter). Under ``jit_compile=True`` XLA drops Assert ops; there an
out-of-domain tensor parameter makes every element of the result and of every derivative NaN
(:func:`nan_unless`; never a number, and ``tf.debugging.enable_check_numerics`` turns it into
an error). Python-number and NumPy parameters, ``x``'s type and dtype and the shapes are
always checked, at trace time.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from sgblend_spec import checks, spec

from .numerics import WORKING, to_working, working


def natural(dtype: tf.DType) -> tf.DType:
    """Where a parameter's values are checked exactly: float64 stays, the rest in float32."""
    return WORKING if dtype == WORKING else tf.float32


def is_tensor(value: object) -> bool:
    return isinstance(value, (tf.Tensor, tf.Variable)) or hasattr(value, "__tf_tensor__")


def as_input(function: str, x: object) -> tf.Tensor:
    """x as a tensor of a supported dtype (spec.INPUT_CONTRACT "x.type", "x.dtype").

    TensorFlow tensors and variables (Keras variables included) and NumPy arrays or scalars
    are accepted with their dtype; Python numbers and lists are a TypeError.
    """
    if isinstance(x, (np.ndarray, np.generic)):
        checks.check_x_dtype(function, np.asarray(x).dtype.name)
    elif not is_tensor(x):
        raise checks.x_type_error(function, x, "TensorFlow")
    t = tf.convert_to_tensor(x)
    checks.check_x_dtype(function, t.dtype.name)
    return t


def check_shape(function: str, name: str, shape: tf.TensorShape, x_shape: tf.TensorShape) -> None:
    """checks.check_parameter_shape on the static shapes, as far as they are known (an unknown
    dimension of x is taken to match, an unknown one of the parameter to be 1)."""
    if shape.rank is None or x_shape.rank is None:
        return
    p, x = [1 if d is None else d for d in shape.as_list()], x_shape.as_list()
    for i in range(1, min(len(p), len(x)) + 1):
        if x[-i] is None:
            x[-i] = p[-i]
    checks.check_parameter_shape(function, name, tuple(p), tuple(1 if d is None else d for d in x))


class Checked(NamedTuple):
    """A parameter after its checks: the tensor, whether it may need a gradient, and its
    in-graph domain condition (None where it was checked on the host)."""

    tensor: tf.Tensor
    differentiable: bool
    condition: object


def check_parameter(function: str, parameter: spec.Parameter, value: object, x: tf.Tensor,
                    precision: str = "fast") -> Checked:
    """One parameter checked as spec.INPUT_CONTRACT "param.*" says.

    NumPy values are checked on the host, always; a tensor is checked on the host in eager
    mode (ValueError) and by a ``tf.debugging.Assert`` in a graph (InvalidArgumentError),
    whose condition the caller also uses for the NaN policy under XLA, which drops Asserts.
    """
    if isinstance(value, np.ndarray) or (isinstance(value, np.generic) and not isinstance(value, np.floating)):
        arr = np.asarray(value)
        if arr.dtype.kind != "f" and arr.dtype.name != "bfloat16":
            raise TypeError(
                f"{function}: parameter '{parameter.name}' must be real floating point, got dtype {arr.dtype}"
            )
        checks.validate(function, {parameter.name: arr})  # raises, naming the parameter
        checks.check_parameter_shape(function, parameter.name, arr.shape, tuple(x.shape))
        return Checked(tf.convert_to_tensor(arr), False, None)
    if is_tensor(value):
        t = tf.convert_to_tensor(value)
        if not t.dtype.is_floating:
            raise TypeError(
                f"{function}: parameter '{parameter.name}' must be real floating point, got dtype {t.dtype.name}"
            )
        condition = None
        if tf.executing_eagerly():
            values = to_working(t, natural(t.dtype)).numpy().ravel()
            if values.size:
                ok = checks.domain_mask(parameter, values, np.isfinite)
                if not ok.all():
                    checks.validate(function, {parameter.name: float(values[~ok][0])})  # raises
        else:
            condition = tf.reduce_all(checks.domain_mask(parameter, tf.cast(t, natural(t.dtype)), tf.math.is_finite))
            tf.debugging.Assert(condition, [checks.domain_message(function, parameter)], name=parameter.name)
        check_shape(function, parameter.name, t.shape, x.shape)
        return Checked(t, True, condition)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{function}: parameter '{parameter.name}' must be a real number or a floating-point "
            f"tensor, got {type(value).__name__}"
        )
    value = checks.validate(function, {parameter.name: float(value)})[parameter.name]
    # A Python number takes the working dtype of the tier (float64 with "exact").
    return Checked(tf.constant(value, dtype=working(x.dtype, precision)), False, None)


def check_parameters(function: str, x: tf.Tensor, params: dict[str, object], precision: str = "fast") -> list[Checked]:
    """Every parameter of ``function`` checked, in spec order (unknown names are a TypeError,
    missing ones take their spec default)."""
    record = spec.FUNCTIONS[function]
    bound = record.bind(params)
    return [check_parameter(function, p, bound[p.name], x, precision) for p in record.params]


@tf.custom_gradient
def nan_unless(ok: tf.Tensor, x: tf.Tensor):
    """x where ``ok`` holds, NaN everywhere otherwise; its gradient likewise (NaN, never 0).

    A select, not arithmetic, so subnormal x survive TensorFlow's flush-to-zero.
    """
    nan = tf.constant(math.nan, x.dtype)

    def grad(dy):
        return None, tf.where(ok, dy, nan)

    return tf.where(ok, x, nan), grad
