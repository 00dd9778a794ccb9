"""How the Keras layers' weights start and are kept: the :class:`ExactConstant` initializer
(registered as "sgblend_spec>Fill", also importable as ``Fill``), the :class:`Clip`
constraint, :func:`constraint` (the Keras constraint for a spec parameter) and
:func:`initial_beta` (β's initializer). Registered serializable under :data:`PACKAGE`, like
the layers, so a ``.keras`` file that names them loads under every Keras backend.
"""

from __future__ import annotations

import keras

from sgblend_spec import spec
from sgblend_spec import layers as framework_free

from . import dispatch

#: The package of every registered name of this binding ("sgblend_spec>SGBlend", ...).
PACKAGE = "sgblend_spec"


@keras.saving.register_keras_serializable(package=PACKAGE)
class Clip(keras.constraints.Constraint):
    """Clip every element to [min_value, max_value] (applied by Keras after each update)."""

    def __init__(self, min_value: float, max_value: float):
        self.min_value = float(min_value)
        self.max_value = float(max_value)
        if not self.min_value <= self.max_value:
            raise ValueError(f"Clip: min_value {min_value!r} must be <= max_value {max_value!r}")

    def __call__(self, w):
        return keras.ops.clip(w, self.min_value, self.max_value)

    def get_config(self) -> dict:
        return {"min_value": self.min_value, "max_value": self.max_value}


@keras.saving.register_keras_serializable(package=PACKAGE, name="Fill")
class ExactConstant(keras.initializers.Initializer):
    """Every element equal to ``value``, rounded once to the weight's dtype.

    keras.initializers.Constant goes through float32, so Constant(0.3) gives a float64
    weight of 0.30000001192...; parity across frameworks needs the float64 value itself.
    Registered as "sgblend_spec>Fill" (its name in files saved before) and importable as
    ``Fill``.
    """

    def __init__(self, value: float):
        self.value = float(value)

    def __call__(self, shape, dtype=None):
        wide = keras.ops.full(shape, self.value, dtype=dispatch.wide_dtype())
        return keras.ops.cast(wide, dtype or keras.backend.floatx())

    def get_config(self) -> dict:
        return {"value": self.value}


#: The former name of :class:`ExactConstant` (the same class).
Fill = ExactConstant


def constraint(parameter: spec.Parameter, per_channel: bool) -> keras.constraints.Constraint | None:
    """The Keras constraint that keeps ``parameter`` after each update
    (``sgblend_spec.layers.projection``): the authors' ``MinMaxNorm(0, 1)`` on the scalar α,
    :class:`Clip` to the constraint interval, or None."""
    kind = framework_free.projection(parameter, per_channel)
    if kind == "min_max_norm":
        return keras.constraints.MinMaxNorm(min_value=0.0, max_value=1.0)
    if kind == "clip":
        return Clip(parameter.constraint.lo, parameter.constraint.hi)
    return None


def initial_beta(layer: str, function: str, beta, initializer):
    """(initializer, config value): an explicit beta is a constant in [0.1, 10]; otherwise a
    Keras initializer, glorot_uniform (the authors' U(-√3, √3) on shape (1,)) by default."""
    if beta is not None and initializer is not None:
        raise ValueError(f"{layer}: give beta or beta_initializer, not both")
    parameter = framework_free.layer_parameters(layer, function, {"beta": beta})["beta"]
    if not parameter.glorot:
        return ExactConstant(parameter.initial_raw), parameter.initial
    return keras.initializers.get(initializer or "glorot_uniform"), None
