"""Framework-free layer logic, shared by the torch modules, the Keras layers and the NNX modules.

A backend's layer does four things that do not depend on its framework, and they live here:

* choose the spec function from the layer's arguments (``SGBlend(gelu="exact")`` evaluates
  ``sgblend_gelu``; ``GELU(approximate="tanh")`` evaluates ``gelu_tanh``);
* check explicit initial values (spec.INPUT_CONTRACT "layer.init") and turn them into the
  values of the trainable (raw) variables: λ is trained as ρ with λ = 1 + ρ², so ρ₀ = √(λ₀ − 1);
* draw β as the authors' layer does: Keras ``glorot_uniform`` on shape (1,), where
  fan_in = fan_out = 1, i.e. U(−√3, √3);
* project the parameters after each optimizer step (the Keras constraints of the authors'
  layer): α by Keras ``MinMaxNorm(0, 1)`` when it is the authors' scalar and by a clip to
  [−1, 1] per channel (MinMaxNorm of a (C,) vector would bound its joint norm), β by a clip
  to [0.1, 10]; λ needs none (1 + ρ² ≥ 1 by construction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from sgblend_spec import checks, spec
from sgblend_spec._namespace import Array, Namespace
from sgblend_spec.compensated import runtime_zero

#: Keras glorot_uniform on the authors' shape (1,): limit √(6/(fan_in + fan_out)) = √3.
GLOROT_SCALAR_LIMIT = math.sqrt(6.0 / (1 + 1))

#: SGBlend(gelu=...) -> the spec function it evaluates (the authors' layer is "sigmoid").
SGBLEND_VARIANTS = {"sigmoid": "sgblend", "exact": "sgblend_gelu", "tanh": "sgblend_gelu_tanh"}
#: GELU(approximate=...) -> the spec function (torch's spelling: "none" is the exact GELU).
GELU_FORMS = {"none": "gelu", "tanh": "gelu_tanh", "sigmoid": "gelu_sigmoid"}


def choose(layer: str, argument: str, value: object, table: Mapping[str, str]) -> str:
    """The spec function ``table[value]``; ValueError naming the argument and its choices."""
    if value not in table:
        raise ValueError(f"{layer}: {argument} must be one of {sorted(table)}, got {value!r}")
    return table[value]


def check_num_parameters(layer: str, n: object) -> int:
    """Per-channel parameter count: an integer ≥ 1."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{layer}: num_parameters must be an integer >= 1, got {n!r}")
    return n


@dataclass(frozen=True)
class LayerParameter:
    """One trainable variable of a layer.

    ``raw`` is the variable's name (``rho`` for λ, the spec name otherwise); ``initial`` the
    checked initial value of the *spec* parameter, or None for the authors' glorot draw.
    """

    raw: str
    parameter: spec.Parameter
    initial: float | None

    @property
    def glorot(self) -> bool:
        """Drawn from U(−√3, √3) (:data:`GLOROT_SCALAR_LIMIT`) rather than filled."""
        return self.initial is None

    @property
    def initial_raw(self) -> float:
        """The raw variable's fill value: ρ₀ = √(λ₀ − 1) for λ, the value itself otherwise."""
        if self.initial is None:
            raise ValueError(f"parameter '{self.parameter.name}' is drawn (glorot_uniform), not filled")
        if self.raw != self.parameter.name:
            return self.parameter.reparam.inverse(self.initial)
        return self.initial

    def to_spec(self, raw_value):
        """The spec parameter from the raw variable (λ = 1 + ρ²; α stays raw: a = σ(α) is in the formulas)."""
        return self.parameter.reparam.forward(raw_value) if self.raw != self.parameter.name else raw_value


def layer_parameters(layer: str, function: str, initial: Mapping[str, object]) -> dict[str, LayerParameter]:
    """raw name -> :class:`LayerParameter` for ``function``'s layer.

    ``initial`` maps spec names to explicit initial values; a parameter whose spec
    initialiser is ``glorot_uniform`` and that is absent (or None) is drawn, any other absent
    one starts at its spec default. An explicit value must be a real number inside the
    parameter's layer constraint, or its domain where it has none (TypeError / ValueError
    naming it).
    """
    record = spec.FUNCTIONS[function]
    unknown = set(initial) - set(record.param_names)
    if unknown:
        raise TypeError(f"{layer} got unexpected parameter(s) {sorted(unknown)}; "
                        f"its parameters are {list(record.param_names)}")
    out = {}
    for raw, p in spec.trainable(function).items():
        value = initial.get(p.name)
        if value is None and p.init.startswith("glorot_uniform"):
            out[raw] = LayerParameter(raw, p, None)
            continue
        checked = p.default if value is None else checks.check_initial_value(layer, p, value)
        out[raw] = LayerParameter(raw, p, checked)
    return out


#: keras.backend.epsilon(), inside the authors' MinMaxNorm constraint on alpha.
KERAS_EPSILON = 1e-7


def keras_min_max_norm(xp: Namespace, w: Array) -> Array:
    """Keras MinMaxNorm(0, 1) of a scalar weight: w·clip(|w|, 0, 1)/(ε + |w|), ε = 1e-7.

    This is the authors' projection of alpha after every update. It is not a plain clip:
    inside [-1, 1] it still shrinks |w| by about ε per step, which reproducing their
    training numbers requires.
    """
    size = xp.abs(w)
    return w * (xp.where(size > 1, 1 + 0 * size, size) / (KERAS_EPSILON + size))


def projection(parameter: spec.Parameter, per_channel: bool) -> str | None:
    """How a layer keeps ``parameter`` after each step: "min_max_norm" (the authors' scalar α),
    "clip" (to ``parameter.constraint``) or None (unconstrained, or kept by a reparameterisation)."""
    if parameter.constraint is None or parameter.reparam is not None and parameter.reparam.raw != parameter.name:
        return None
    if parameter.name == "alpha" and not per_channel:
        return "min_max_norm"
    return "clip"


def project(xp: Namespace, parameter: spec.Parameter, value: Array, per_channel: bool) -> Array:
    """``value`` of ``parameter`` after the layer's projection (see :func:`projection`)."""
    kind = projection(parameter, per_channel)
    if kind == "min_max_norm":
        return keras_min_max_norm(xp, value)
    if kind == "clip":
        lo, hi = parameter.constraint.lo, parameter.constraint.hi
        zero = runtime_zero(xp, value)  # 0 at ±inf too (0·inf would be NaN); NaN stays NaN
        return xp.where(value < lo, zero + lo, xp.where(value > hi, zero + hi, value))
    return value
