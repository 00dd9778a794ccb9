"""λ-GELU training recipe: the target λ*, the hardening schedule and the λ-aware update.

Framework-free (``math`` and NumPy); the backends bind these functions to their own
parameters, optimizers and training loops. The formulas and their derivations are also
the ``training`` rules of the ``lambda_gelu`` spec record, which the docs render.

Notation: f_λ(x) = x·Φ(λx), λ = 1 + ρ² (``spec.LAM.reparam``), ReLU(x) = max(x, 0).

* Target. ReLU(x) − f_λ(x) = |x|·Φ(−λ|x|) ≥ 0 for every x, and it is the function
  t·Φ(−t) of t = λ|x| scaled by 1/λ, so sup_x (ReLU − f_λ) = c/λ with
  c = max_t t·Φ(−t) = :data:`RELU_GAP_SUP` (0.1699712, at t = 0.7517915). Replacing f_λ by
  ReLU therefore moves every unit's output by at most c/λ, whatever the input: for a
  tolerance ε on that per-unit change, λ* = max(1, c/ε) (:func:`target_lam`, norm "sup",
  the default). Two integral norms are available: ‖f_λ − ReLU‖₁ = 1/(2λ²) ("l1") and, for
  the derivative (the gate), ‖Φ(λ·) − H‖₁ = √(2/π)/λ ("gate_l1").
* Schedule. A floor λ_min(t) rises from 1 to λ* over ``ramp_steps`` optimizer steps
  starting at ``start_step``, with 1/λ_min linear in the step (:func:`lam_floor`). Since
  sup_x ∂f/∂λ = 0.29353/λ², a change dλ moves f by at most 0.29353·|d(1/λ)| in the sup
  norm, so this curve changes the function (and the bound c/λ on the ReLU gap) by the same
  amount at every step. After each optimizer step ρ is projected onto {1 + ρ² ≥ λ_min}:
  |ρ| ← max(|ρ|, √(λ_min − 1)), sign kept (:func:`project_rho`; the Euclidean projection).
  Above the floor λ stays learnable; from ``start_step + ramp_steps`` on, λ ≥ λ* holds.
* Update. For pre-activations x ~ N(0, s²),
  E[∂f/∂λ] = s²/√(2π)·(1 + λ²s²)^(−3/2) (:func:`lam_partial_mean`), which attenuates like
  λ⁻³ once λs ≫ 1 (λ⁻² for the pointwise sup). Multiplying ρ's gradient by
  κ(λ) = E[∂f/∂λ](1)/E[∂f/∂λ](λ) = ((1 + λ²s²)/(1 + s²))^(3/2) (:func:`lam_gradient_scale`)
  undoes that: with ∂L/∂ρ = 2ρ·∂L/∂λ, one SGD step of size η changes
  log(λ − 1) = 2·log|ρ| by exactly 2·log|1 − 2η·κ·∂L/∂λ|, independent of λ when κ·∂L/∂λ
  is. Adam-type optimizers divide by a running RMS of the gradient, so a slowly varying κ
  cancels (Adam(κg, ε) = Adam(g, ε/κ) for constant κ): there the rule is harmless and
  only keeps the attenuated gradient above ε. ρ's weight decay should be 0 (decay pulls λ
  toward 1, against the hardening).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from sgblend_spec import spec

__all__ = [
    "RELU_GAP_ARGMAX",
    "RELU_GAP_SUP",
    "NORMS",
    "relu_gap",
    "target_lam",
    "lam_floor",
    "rho_floor",
    "project_rho",
    "lam_partial_mean",
    "lam_gradient_scale",
    "SubstitutionReport",
    "substitution_report",
]

_SQRT_2PI = math.sqrt(2.0 * math.pi)
_REPARAM = spec.LAM.reparam  # λ = 1 + ρ², ρ = √(λ − 1)


def _upper_tail(t: float) -> float:
    """Φ(−t) = erfc(t/√2)/2."""
    return 0.5 * math.erfc(t / math.sqrt(2.0))


def _density(t: float) -> float:
    """φ(t) = e^(−t²/2)/√(2π)."""
    return math.exp(-0.5 * t * t) / _SQRT_2PI


def _gap_argmax() -> float:
    """The root of d/dt [t·Φ(−t)] = Φ(−t) − t·φ(t) (Newton; its derivative is φ(t)(t² − 2))."""
    t = 0.75
    for _ in range(60):
        step = (_upper_tail(t) - t * _density(t)) / (_density(t) * (t * t - 2.0))
        t -= step
        if abs(step) <= 1e-17:
            break
    return t


#: t* = argmax_t t·Φ(−t) = 0.7517915…; ReLU − f_λ peaks at |x| = t*/λ.
RELU_GAP_ARGMAX: float = _gap_argmax()
#: c = max_t t·Φ(−t) = t*·Φ(−t*) = 0.1699712…: sup_x (ReLU(x) − f_λ(x)) = c/λ.
RELU_GAP_SUP: float = RELU_GAP_ARGMAX * _upper_tail(RELU_GAP_ARGMAX)

#: norm -> (C, k) with ‖ReLU − f_λ‖ = C/λ^k: "sup" the pointwise maximum, "l1" the integral
#: of |ReLU − f_λ| over the real line, "gate_l1" the integral of |Φ(λx) − H(x)| (H the step).
NORMS: dict[str, tuple[float, int]] = {
    "sup": (RELU_GAP_SUP, 1),
    "l1": (0.5, 2),
    "gate_l1": (math.sqrt(2.0 / math.pi), 1),
}


# ----------------------------------------------------------------------------- checks
def _real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def _positive(name: str, value: Any) -> float:
    v = _real(name, value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a finite value in (0, inf), got {value!r}")
    return v


def _lam(name: str, value: Any) -> float:
    v = _real(name, value)
    if v not in spec.LAM.domain:
        raise ValueError(f"{name} must be a finite value in {spec.LAM.domain}, got {value!r}")
    return v


def _count(name: str, value: Any, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    return int(value)


def _norm(norm: Any) -> tuple[float, int]:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {list(NORMS)}, got {norm!r}")
    return NORMS[norm]


# ----------------------------------------------------------------------------- target
def relu_gap(lam: float, norm: str = "sup") -> float:
    """‖ReLU − f_λ‖ in ``norm``: "sup" c/λ (c = 0.1699712), "l1" 1/(2λ²), "gate_l1"
    ‖Φ(λ·) − H‖₁ = √(2/π)/λ."""
    coefficient, power = _norm(norm)
    return coefficient / _lam("lam", lam) ** power


def target_lam(tolerance: float, norm: str = "sup") -> float:
    """λ* = the smallest λ ≥ 1 with relu_gap(λ, norm) ≤ tolerance: max(1, (C/ε)^(1/k)).

    With the default "sup" norm, λ* = max(1, c/ε): replacing f_λ (λ ≥ λ*) by ReLU changes
    every unit's output by at most ε, for every input.
    """
    coefficient, power = _norm(norm)
    return max(1.0, (coefficient / _positive("tolerance", tolerance)) ** (1.0 / power))


# ----------------------------------------------------------------------------- schedule
def lam_floor(step: int, lam_target: float, ramp_steps: int, start_step: int = 0) -> float:
    """λ_min after ``step`` optimizer steps: 1/λ_min = 1 − p·(1 − 1/λ*), p the ramp progress
    clip((step − start_step)/ramp_steps, 0, 1); exactly λ* once the ramp is over."""
    step = _count("step", step, 0)
    lam_target = _lam("lam_target", lam_target)
    ramp_steps = _count("ramp_steps", ramp_steps, 1)
    start_step = _count("start_step", start_step, 0)
    progress = min(max((step - start_step) / ramp_steps, 0.0), 1.0)
    if progress == 1.0:
        return lam_target
    return 1.0 / (1.0 - progress * (1.0 - 1.0 / lam_target))


def rho_floor(lam_min: float) -> float:
    """√(λ_min − 1) (the spec's inverse reparameterisation), raised by ulps until
    1 + ρ² ≥ λ_min holds in float64."""
    lam_min = _lam("lam_min", lam_min)
    r = _REPARAM.inverse(lam_min)
    while _REPARAM.forward(r) < lam_min:
        r = math.nextafter(r, math.inf)
    return r


def project_rho(ns, rho, lam_min: float):
    """ρ projected onto {1 + ρ² ≥ λ_min}: sign(ρ)·max(|ρ|, √(λ_min − 1)), ρ = 0 going to +.

    ``ns`` is a backend's array namespace (``where``, ``abs``); ``rho`` one of its arrays.
    """
    r = rho_floor(lam_min)
    raised = ns.where(rho < 0, rho * 0 - r, rho * 0 + r)
    return ns.where(ns.abs(rho) < r, raised, rho)


# ----------------------------------------------------------------------------- update
def lam_partial_mean(lam, preactivation_std: float = 1.0):
    """E[∂f/∂λ] = E[x²·φ(λx)] for x ~ N(0, s²): s²/√(2π)·(1 + λ²s²)^(−3/2).

    Elementwise for a float or any backend array ``lam`` (only arithmetic is used)."""
    s = _positive("preactivation_std", preactivation_std)
    return (s * s / _SQRT_2PI) * (1 + (lam * s) ** 2) ** -1.5


def lam_gradient_scale(lam, preactivation_std: float = 1.0):
    """κ(λ) = E[∂f/∂λ](1)/E[∂f/∂λ](λ) = ((1 + λ²s²)/(1 + s²))^(3/2), the factor that
    undoes the attenuation of ρ's gradient (κ(1) = 1). Elementwise, like ``lam``."""
    return lam_partial_mean(1.0, preactivation_std) / lam_partial_mean(lam, preactivation_std)


# ----------------------------------------------------------------------------- substitution
@dataclass(frozen=True)
class SubstitutionReport:
    """Measured change of a model's outputs when its λ-GELU sites are replaced by ReLU.

    ``sites``: the replaced modules/layers; ``max_abs_change`` and ``mean_abs_change`` of
    the outputs; ``relative_change`` = ‖Δ‖₂/‖y‖₂; ``unit_bound`` = c/λ_min over the replaced
    units, the largest possible change of any one unit's output (0 with no site).
    """

    sites: tuple[str, ...]
    max_abs_change: float
    mean_abs_change: float
    relative_change: float
    unit_bound: float


def substitution_report(sites: Sequence[str], before, after, lams: Sequence[Any]) -> SubstitutionReport:
    """The :class:`SubstitutionReport` of outputs ``before``/``after`` (array-likes of one
    shape, compared in float64) for sites whose λ values are ``lams``."""
    y = np.asarray(before, dtype=np.float64)
    z = np.asarray(after, dtype=np.float64)
    if y.shape != z.shape:
        raise ValueError(f"before and after must have the same shape, got {y.shape} and {z.shape}")
    delta = np.abs(z - y)
    norm = float(np.linalg.norm(y))
    values = [np.asarray(v, dtype=np.float64).ravel() for v in lams]
    smallest = min((float(v.min()) for v in values if v.size), default=None)
    return SubstitutionReport(
        sites=tuple(sites),
        max_abs_change=float(delta.max()) if delta.size else 0.0,
        mean_abs_change=float(delta.mean()) if delta.size else 0.0,
        relative_change=float(np.linalg.norm(delta)) / norm if norm > 0 else (math.inf if delta.any() else 0.0),
        unit_bound=0.0 if smallest is None else relu_gap(smallest, "sup"),
    )
