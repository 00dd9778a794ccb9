"""The specification as data: one declarative record per function.

Tests, the conformance suite and the docs read these records; nothing restates them.
A record gives the parameters (domain, default, layer constraint, initialiser,
reparameterisation), the LaTeX of the function and of each derivative, the values at
0 and the limits at ±∞, the identities that hold, and the documented decisions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

# The input contract is data of its own module, re-exported here (spec.INPUT_CONTRACT).
from sgblend_spec.input_contract import INPUT_CONTRACT as INPUT_CONTRACT
from sgblend_spec.input_contract import Clause as Clause

INF = math.inf
SIGMOID_GELU_SLOPE = 1.702  # the k of x·σ(kx); formulas.py imports the same literal

# ----------------------------------------------------------------------------- accuracy contract
#: The precision tiers (``precision=`` on every public function, module and layer):
#: "exact" evaluates float16/bfloat16/float32 in float64 and rounds once; "fast" evaluates
#: them in float32 arithmetic (the same compensated formulas; float16/bfloat16 rounded once
#: from float32) and never needs float64. float64 is evaluated in float64 in both. Framework
#: backends default to "fast", the NumPy reference to "exact".
PRECISIONS = ("exact", "fast")
DEFAULT_PRECISION = {"reference": "exact", "backends": "fast"}

DTYPES = ("float16", "bfloat16", "float32", "float64")
#: Published bounds per tier, dtype and quantity kind, in plain ULPs of the correctly
#: rounded oracle value ("derivative": every partial and ∂²f/∂x²). Only at a true root
#: (a sum of terms that no formula avoids, listed in ``conformance/ulp.py``) is the bound
#: in ULPs of the condition scale M, the magnitude of those terms, instead. float64 has no
#: wider type: its values are within 2 ULP through the framework's exp corrected by its own
#: error (compensated.exp_split), erfc's and Φ's far tail as double-word products, and the
#: blends' terms summed as head + low and rounded once (gates.sum_split): at most 1.86 ULP at
#: 3000-4000 held-out random points per function (mpmath; NumPy, torch, TensorFlow and JAX), where
#: the rounded exp, weights and terms had cost up to 2.9.
_FLOAT64_BOUNDS = {"value": 2, "derivative": 4}
TIER_BOUNDS = {
    "exact": {
        "float16": {"value": 1, "derivative": 2},
        "bfloat16": {"value": 1, "derivative": 2},
        "float32": {"value": 1, "derivative": 2},
        "float64": dict(_FLOAT64_BOUNDS),
    },
    "fast": {
        "float16": {"value": 1, "derivative": 2},
        "bfloat16": {"value": 1, "derivative": 2},
        "float32": {"value": 4, "derivative": 8},
        "float64": dict(_FLOAT64_BOUNDS),
    },
}
#: Where the bounds are known not to hold, all far outside the layers' constraints and the
#: suite's parameter ranges (found by an independent oracle run at wide parameters, 2026-12).
TIER_EXCEPTIONS = (
    "A blend's weight σ(±α) below the normal range of the working precision (|α| > 87 in "
    "float32 arithmetic, the fast tier; |α| > 708 in float64): the weight is a subnormal with "
    "fewer bits, and a value, ∂β or ∂α it scales loses them where that result is normal (|x| "
    "large enough). Never NaN: a weight that underflows to 0 gives the limit.",
    "The fast tier in float32 for a slope β < 7e-18 and |x| > 1.9e19 with |βx| > 131: σ's tail "
    "e^(-|βx|), kept scaled by 2^64, underflows before x·σ(-|βx|) or x²·σσ̄ would (the exact "
    "tier, in float64 arithmetic, holds).",
)
#: The "exact" tier's bounds, dtype -> {"value", "derivative"} (the default tier's table).
ULP_BOUNDS = TIER_BOUNDS["exact"]


def ulp_bound(quantity: str, dtype: str, precision: str = "exact") -> int:
    """The bound for ``quantity`` ("value", "x", a parameter name or "dxx") in ``dtype``
    under a precision tier ("exact", the default, or "fast")."""
    if precision not in TIER_BOUNDS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    return TIER_BOUNDS[precision][dtype]["value" if quantity == "value" else "derivative"]


# ----------------------------------------------------------------------------- records
@dataclass(frozen=True)
class Interval:
    """A real interval; ``lo``/``hi`` may be ±inf (then open). Members are finite."""

    lo: float
    hi: float
    lo_closed: bool = True
    hi_closed: bool = True

    def __contains__(self, v: float) -> bool:
        if not math.isfinite(v):
            return False
        above = v >= self.lo if self.lo_closed else v > self.lo
        below = v <= self.hi if self.hi_closed else v < self.hi
        return above and below

    def __str__(self) -> str:
        def end(v: float) -> str:
            return "inf" if v == INF else "-inf" if v == -INF else f"{v:g}"

        left = "[" if self.lo_closed and math.isfinite(self.lo) else "("
        right = "]" if self.hi_closed and math.isfinite(self.hi) else ")"
        return f"{left}{end(self.lo)}, {end(self.hi)}{right}"


REALS = Interval(-INF, INF)


@dataclass(frozen=True)
class Reparam:
    """constrained = forward(raw); the map, its inverse and its derivative, as code and LaTeX."""

    raw: str
    latex: str
    derivative_latex: str
    forward: Callable[[float], float]
    inverse: Callable[[float], float]
    derivative: Callable[[float], float]
    reason: str


@dataclass(frozen=True)
class Parameter:
    name: str
    symbol: str  # LaTeX
    domain: Interval  # where the function is defined and accepts the value
    default: float  # the value a functional call uses when the parameter is omitted
    description: str
    constraint: Interval | None = None  # where a layer keeps it after each optimizer step
    projection: str = "clip to the constraint interval"  # how it is kept there
    init: str = ""  # how a layer initialises it (parity preset)
    reparam: Reparam | None = None


@dataclass(frozen=True)
class Identity:
    latex: str
    holds: bool
    note: str = ""


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    function: str  # the spec function it evaluates


@dataclass(frozen=True)
class Rule:
    """A training rule for a function's parameters: the formula (LaTeX), its derivation
    (plain text) and the dotted name of the code that implements it."""

    name: str
    title: str
    latex: str
    derivation: str
    implementation: str


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    title: str
    summary: str
    params: tuple[Parameter, ...]
    latex: Mapping[str, str]  # "value", "x", each parameter name, "dxx"
    at_zero: Callable[[Mapping[str, float]], Mapping[str, float]]
    limits: Callable[[Mapping[str, float]], Mapping[str, Mapping[str, float]]]
    identities: tuple[Identity, ...] = ()
    extrema: str = ""
    decisions: tuple[str, ...] = ()
    variants: tuple[Variant, ...] = ()
    source: str = ""
    training: tuple[Rule, ...] = ()  # the library's training recipe, where it defines one

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def quantities(self) -> tuple[str, ...]:
        """Everything the reference computes: value, ∂x, ∂ each parameter, ∂²x."""
        return ("value", "x", *self.param_names, "dxx")

    @property
    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}

    def parameter(self, name: str) -> Parameter:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"{self.name} has no parameter {name!r}; it has {self.param_names}")

    def bind(self, params: Mapping[str, object]) -> dict[str, object]:
        """Defaults filled in; unknown names rejected (TypeError, like a bad keyword)."""
        unknown = set(params) - set(self.param_names)
        if unknown:
            raise TypeError(
                f"{self.name}() got unexpected parameter(s) {sorted(unknown)}; "
                f"its parameters are {list(self.param_names)}"
            )
        return {p.name: params.get(p.name, p.default) for p in self.params}

    def special_values(self, params: Mapping[str, float]) -> list[tuple[float, str, float]]:
        """(x, quantity, expected) rows at x = ±0, ±inf and NaN for these parameter values."""
        rows = []
        for x in (0.0, -0.0):
            rows += [(x, q, v) for q, v in self.at_zero(params).items()]
        for side, x in (("+inf", INF), ("-inf", -INF)):
            rows += [(x, q, v) for q, v in self.limits(params)[side].items()]
        rows += [(math.nan, q, math.nan) for q in self.quantities]
        return rows


# ----------------------------------------------------------------------------- shared pieces
def _sigma(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def _logit(a: float) -> float:
    return math.log(a / (1 - a))


_SYMMETRY = (
    Identity(r"f(x) - f(-x) = x", True, "equivalently f(x) - x/2 is even"),
    Identity(r"f'(x) + f'(-x) = 1", True, "f' - 1/2 is odd"),
    Identity(r"f''(x) = f''(-x)", True, "the curvature is even"),
    Identity(r"\partial_p f(x) = \partial_p f(-x)", True, "every parameter partial is even in x"),
    Identity(r"f(-x) = f(x)", False, "not even"),
    Identity(r"f(-x) = -f(x)", False, "not odd"),
)

_BETA_DOMAIN_DECISION = (
    "beta accepts any finite real. The authors' layer draws beta from glorot_uniform on "
    "shape (1,), i.e. U(-sqrt(3), sqrt(3)), and clips it to [0.1, 10] only after an "
    "optimizer update (Keras constraints run after updates), so its first forward passes "
    "can use a negative beta; reproducing that layer exactly requires the function to "
    "accept it. Layers reject an explicitly requested beta outside [0.1, 10]."
)


def _swish_tail(beta: float, sign: int) -> tuple[float, float]:
    """(lim x·σ(βx), lim ∂x) as x → sign·∞."""
    if beta == 0:
        return sign * INF, 0.5
    return (sign * INF, 1.0) if beta * sign > 0 else (0.0, 0.0)


def _swish_limits(p: Mapping[str, float]) -> dict[str, dict[str, float]]:
    out = {}
    for side, sign in (("+inf", 1), ("-inf", -1)):
        value, slope = _swish_tail(p["beta"], sign)
        out[side] = {"value": value, "x": slope, "beta": INF if p["beta"] == 0 else 0.0, "dxx": 0.0}
    return out


def _blend_limits(base: str) -> Callable:
    def limits(p: Mapping[str, float]) -> dict[str, dict[str, float]]:
        a, rest = _sigma(p["alpha"]), _sigma(-p["alpha"])  # 1 - a without cancellation
        out = {}
        for side, sign in (("+inf", 1), ("-inf", -1)):
            sw_value, sw_slope = _swish_tail(p["beta"], sign)
            g_value, g_slope = (sign * INF, 1.0) if sign > 0 else (0.0, 0.0)
            # β > 0 at +inf: x·σ(βx) and g(x) have the same leading term x and the tails
            # vanish, leaving -γ. β = 0: x/2 - g(x) → -∞ on both sides.
            if p["beta"] == 0:
                difference = -INF
            elif sw_value == g_value and math.isinf(g_value):
                difference = -p["gamma"]
            else:
                difference = sw_value - p["gamma"] - g_value
            value = a * (sw_value - p["gamma"]) + rest * g_value
            out[side] = {
                "value": value,
                "x": a * sw_slope + rest * g_slope,
                "alpha": a * rest * difference,
                "beta": INF if p["beta"] == 0 else 0.0,
                "gamma": -a,
                "dxx": 0.0,
            }
        return out

    return limits


def _gelu_like_limits(extra: Mapping[str, float] = {}) -> Callable:
    def limits(p: Mapping[str, float]) -> dict[str, dict[str, float]]:
        return {
            "+inf": {"value": INF, "x": 1.0, **extra, "dxx": 0.0},
            "-inf": {"value": 0.0, "x": 0.0, **extra, "dxx": 0.0},
        }

    return limits


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)

BETA_SWISH = Parameter(
    "beta", r"\beta", Interval(0, INF), 1.0,
    "slope of the gate; β = 1 is SiLU, β = 0 gives x/2, β → ∞ tends to ReLU",
)
BETA_LEARNED = Parameter(
    "beta", r"\beta", REALS, 1.0,
    "gate slope; layers keep it in [0.1, 10]",
    constraint=Interval(0.1, 10.0),
    init="glorot_uniform on shape (1,): U(-√3, √3) (authors); 1.0 in the deterministic variant",
)
GAMMA = Parameter("gamma", r"\gamma", REALS, 0.0, "vertical shift, unconstrained", init="zeros")
ALPHA = Parameter(
    "alpha", r"\alpha", REALS, 0.0,
    "raw blend weight; the SSwish share is a = σ(α)",
    constraint=Interval(-1.0, 1.0),
    projection="Keras MinMaxNorm(0, 1) on the scalar: α ← α·clip(|α|, 0, 1)/(1e-7 + |α|) "
    "(layers.keras_min_max_norm); per-channel alpha is clipped elementwise",
    init="zeros (a = 1/2)",
    reparam=Reparam(
        raw="alpha",
        latex=r"a = \sigma(\alpha)",
        derivative_latex=r"\frac{da}{d\alpha} = a(1-a)",
        forward=_sigma,
        inverse=_logit,
        derivative=lambda alpha: _sigma(alpha) * _sigma(-alpha),
        reason="the authors' code; Keras MinMaxNorm(0, 1) on a scalar keeps |α| ≤ 1, so "
        "a stays in [σ(-1), σ(1)] = [0.2689, 0.7311]",
    ),
)
LAM = Parameter(
    "lam", r"\lambda", Interval(1.0, INF), 1.0 + math.log(2.0),
    "sharpness; λ = 1 is exact GELU, λ → ∞ tends to ReLU",
    init="1 + ln 2 (ρ = √(ln 2)), the value of the known port's λ₀",
    reparam=Reparam(
        raw="rho",
        latex=r"\lambda = 1 + \rho^2",
        derivative_latex=r"\frac{d\lambda}{d\rho} = 2\rho",
        forward=lambda rho: 1.0 + rho * rho,
        inverse=lambda lam: math.sqrt(lam - 1.0),
        derivative=lambda rho: 2.0 * rho,
        reason="covers [1, ∞) exactly (λ = 1 at ρ = 0) with a smooth map and no clipping; "
        "the port's 1 + softplus(ρ/τ) covers only (1, ∞)",
    ),
)

_SSWISH_LATEX = {
    "value": r"f(x) = x\,\sigma(\beta x) - \gamma",
    "x": r"\partial_x f = \sigma(u)\,\bigl(1 + u\,\bar\sigma(u)\bigr),\quad u = \beta x",
    "beta": r"\partial_\beta f = x^2\,\sigma(u)\,\bar\sigma(u)",
    "gamma": r"\partial_\gamma f = -1",
    "dxx": r"\partial_x^2 f = \beta\,\sigma(u)\bar\sigma(u)\,\bigl(2 - u\tanh(u/2)\bigr)",
}


def _blend_latex(g: str, g_x: str, g_xx: str) -> dict[str, str]:
    return {
        "value": rf"F(x) = a\,\bigl(x\sigma(\beta x) - \gamma\bigr) + (1-a)\,{g},\quad a = \sigma(\alpha)",
        "x": rf"\partial_x F = a\,\sigma(u)\bigl(1 + u\bar\sigma(u)\bigr) + (1-a)\,{g_x},\quad u = \beta x",
        "alpha": rf"\partial_\alpha F = a(1-a)\,\bigl[x\sigma(\beta x) - \gamma - {g}\bigr]",
        "beta": r"\partial_\beta F = a\,x^2\,\sigma(\beta x)\,\bar\sigma(\beta x)",
        "gamma": r"\partial_\gamma F = -a",
        "dxx": rf"\partial_x^2 F = a\,\beta\,S(\beta x) + (1-a)\,{g_xx},\quad "
        r"S(u) = \sigma(u)\bar\sigma(u)\bigl(2 - u\tanh(u/2)\bigr)",
    }


_SIGMOID_GELU_LATEX = (r"x\,\sigma(kx)", r"\sigma(kx)\bigl(1 + kx\,\bar\sigma(kx)\bigr)", r"k\,S(kx)")
_EXACT_GELU_LATEX = (r"x\,\Phi(x)", r"\bigl(\Phi(x) + x\varphi(x)\bigr)", r"\varphi(x)(2 - x^2)")
_TANH_GELU_LATEX = (
    r"x\,\sigma(z)",
    r"\bigl(\sigma(z) + x z'\sigma(z)\bar\sigma(z)\bigr)",
    r"\sigma(z)\bar\sigma(z)\bigl(2z' + xz'' - xz'^2\tanh(z/2)\bigr)",
)


def _blend_at_zero(g_curvature: float) -> Callable:
    def at_zero(p):
        a, rest = _sigma(p["alpha"]), _sigma(-p["alpha"])  # 1 - a without cancellation
        return {
            "value": -a * p["gamma"],
            "x": 0.5,
            "alpha": -a * rest * p["gamma"],
            "beta": 0.0,
            "gamma": -a,
            "dxx": a * p["beta"] / 2 + rest * g_curvature,
        }

    return at_zero


_BLEND_DECISIONS = (
    "The default SG-Blend is the authors' released Keras layer: blend partner x·σ(1.702x), "
    "raw alpha with a = σ(alpha), alpha initialised to 0 (a = 1/2, not pure GELU as the "
    "code's comment claims) and kept in [-1, 1] by MinMaxNorm(0, 1), beta from "
    "glorot_uniform U(-√3, √3) clipped to [0.1, 10] after every update, gamma = 0 "
    "unconstrained, one scalar set per layer instance.",
    _BETA_DOMAIN_DECISION,
    "Blends with the exact GELU (sgblend_gelu) and the tanh GELU (sgblend_gelu_tanh), a "
    "direct a ∈ [0, 1] parameterisation, a deterministic beta = 1 initialisation and "
    "per-channel parameters are named variants, never the default.",
)

_BLEND_VARIANTS = (
    Variant("authors", "the released layer (default): sigmoid-GELU partner, raw alpha, glorot beta", "sgblend"),
    Variant("exact_gelu", "blend with the exact GELU x·Φ(x), the paper's 'established GELU'", "sgblend_gelu"),
    Variant("tanh_gelu", "blend with the tanh GELU", "sgblend_gelu_tanh"),
    Variant("direct_alpha", "a ∈ [0, 1] is the trained parameter (clipped), α = logit(a)", "sgblend"),
    Variant("deterministic_beta", "beta initialised to 1.0 instead of glorot_uniform", "sgblend"),
    Variant("per_channel", "alpha, beta, gamma of shape (C,), broadcast along the channel axis", "sgblend"),
)


_BLEND_PARTNER_TEXT = {"gelu_sigmoid": "x·σ(1.702x)", "gelu": "x·Φ(x)", "gelu_tanh": "gelu_tanh(x)"}


def _blend(name: str, title: str, g_latex: tuple[str, str, str], g_curvature: float, base: str) -> FunctionSpec:
    return FunctionSpec(
        name=name,
        title=title,
        summary=f"a·SSwish(x; β, γ) + (1 - a)·{_BLEND_PARTNER_TEXT[base]} with a = σ(α)",
        params=(ALPHA, BETA_LEARNED, GAMMA),
        latex=_blend_latex(*g_latex),
        at_zero=_blend_at_zero(g_curvature),
        limits=_blend_limits(base),
        identities=_SYMMETRY,
        extrema="Not always unimodal: a = 0.2689, β = 0.3193 (γ = 0) has three critical points.",
        decisions=_BLEND_DECISIONS,
        variants=_BLEND_VARIANTS,
        source="Sarkar, Gala, Tripathi, arXiv 2505.23942, and the authors' Keras layer",
    )


_LAMBDA_GELU_TRAINING = (
    Rule(
        name="target",
        title="Target λ* from a tolerance ε",
        latex=r"\lambda^\star(\varepsilon) = \max\bigl(1,\ c/\varepsilon\bigr),\quad "
        r"\sup_x \bigl(\mathrm{ReLU}(x) - f(x)\bigr) = \frac{c}{\lambda},\quad "
        r"c = \max_{t \ge 0} t\,\Phi(-t) = 0.1699712",
        derivation="ReLU(x) − f(x) = |x|·Φ(−λ|x|) ≥ 0 equals t·Φ(−t)/λ with t = λ|x|, whose "
        "maximum is at t* = 0.7517915 (where Φ(−t) = t·φ(t)). Replacing λ-GELU by ReLU therefore "
        "moves each unit's output by at most c/λ for every input, and λ ≥ c/ε keeps that change "
        "within ε. The integral norms ‖f − ReLU‖₁ = 1/(2λ²) and ‖Φ(λ·) − H‖₁ = √(2/π)/λ give "
        "λ* = 1/√(2ε) and √(2/π)/ε instead (norm 'l1' and 'gate_l1'); the sup norm is the "
        "default because it bounds the change for every input, whatever their distribution.",
        implementation="sgblend_spec.hardening.target_lam",
    ),
    Rule(
        name="schedule",
        title="Hardening schedule: a rising floor on λ, enforced by projecting ρ",
        latex=r"\frac{1}{\lambda_{\min}(t)} = 1 - p(t)\Bigl(1 - \frac{1}{\lambda^\star}\Bigr),\quad "
        r"p(t) = \operatorname{clip}\Bigl(\frac{t - t_0}{T}, 0, 1\Bigr),\quad "
        r"\rho \leftarrow \operatorname{sign}(\rho)\,\max\bigl(|\rho|, \sqrt{\lambda_{\min}(t) - 1}\bigr)",
        derivation="After optimizer step t, ρ is projected onto the set 1 + ρ² ≥ λ_min(t) (its "
        "nearest point, sign kept; ρ = 0 goes to the positive root), so λ stays learnable above a "
        "floor that rises from 1 at step t₀ to λ* at step t₀ + T and then holds: λ ≥ λ* from there "
        "on. Because sup_x ∂f/∂λ = 0.29353/λ², a change dλ moves f by at most 0.29353·|d(1/λ)| in "
        "the sup norm; a floor linear in 1/λ therefore changes the function, and the bound c/λ on "
        "its distance to ReLU, by the same amount at every step of the ramp. The floor depends "
        "only on the step count, so the schedule is deterministic and resumable.",
        implementation="sgblend_spec.hardening.lam_floor",
    ),
    Rule(
        name="update",
        title="λ-aware update: ρ's gradient scaled by κ(λ)",
        latex=r"\partial_\rho L \leftarrow \kappa(\lambda)\,\partial_\rho L,\quad "
        r"\kappa(\lambda) = \Bigl(\frac{1 + \lambda^2 s^2}{1 + s^2}\Bigr)^{3/2},\quad "
        r"\mathbb{E}_{x \sim \mathcal{N}(0, s^2)}\bigl[\partial_\lambda f\bigr] = "
        r"\frac{s^2}{\sqrt{2\pi}}\,\bigl(1 + \lambda^2 s^2\bigr)^{-3/2}",
        derivation="For pre-activations x ~ N(0, s²) (s = 1 by default: normalised or "
        "variance-preserving layers) the mean partial E[x²·φ(λx)] is the Gaussian integral above; "
        "it decays like λ⁻³ once λs ≫ 1 (the pointwise sup like λ⁻²), and κ = E(λ = 1)/E(λ) "
        "undoes that (κ(1) = 1). With ∂L/∂ρ = 2ρ·∂L/∂λ, an SGD step of size η changes "
        "log(λ − 1) = 2·log|ρ| by exactly 2·log|1 − 2η·κ·∂L/∂λ|: the same at every λ when "
        "κ·∂L/∂λ is, where without κ it shrinks like λ⁻³. Adam-type optimizers divide by a running "
        "RMS of the gradient, so a slowly varying κ cancels (Adam on κ·g with ε is Adam on g with "
        "ε/κ): there the rule changes nothing except keeping the attenuated gradient above ε, and "
        "it is safe to leave on. ρ gets no weight decay, which would pull λ toward 1.",
        implementation="sgblend_spec.hardening.lam_gradient_scale",
    ),
    Rule(
        name="substitution",
        title="ReLU substitution after training",
        latex=r"\bigl|\mathrm{ReLU}(x) - f(x)\bigr| \le \frac{c}{\lambda_{\min}} \le \varepsilon"
        r"\quad \text{for } \lambda \ge \lambda_{\min} \ge \lambda^\star(\varepsilon)",
        derivation="replace_lambda_gelu_with_relu (formerly relu_ize) replaces every λ-GELU of a model by ReLU and reports the measured "
        "change of the model's outputs on given inputs next to this per-unit bound, taken at the "
        "smallest λ of the replaced units.",
        implementation="sgblend_spec.hardening.substitution_report",
    ),
)

FUNCTIONS: dict[str, FunctionSpec] = {}


def _register(*records: FunctionSpec) -> None:
    for r in records:
        FUNCTIONS[r.name] = r


_register(
    FunctionSpec(
        name="swish",
        title="Swish-β (SiLU at β = 1)",
        summary="x·σ(βx)",
        params=(BETA_SWISH,),
        latex={
            "value": r"f(x) = x\,\sigma(\beta x)",
            "x": _SSWISH_LATEX["x"],
            "beta": _SSWISH_LATEX["beta"],
            "dxx": _SSWISH_LATEX["dxx"],
        },
        at_zero=lambda p: {"value": 0.0, "x": 0.5, "beta": 0.0, "dxx": p["beta"] / 2},
        limits=_swish_limits,
        identities=_SYMMETRY + (Identity(r"f_\beta(x) = f_1(\beta x)/\beta", True, "β > 0"),),
        extrema="Minimum at x* = -(1 + W(1/e))/β = -1.2784645/β, value -0.2784645/β (β > 0).",
        source="Ramachandran, Zoph, Le, arXiv 1710.05941",
    ),
    FunctionSpec(
        name="gelu",
        title="GELU, exact",
        summary="x·Φ(x)",
        params=(),
        latex={
            "value": r"f(x) = x\,\Phi(x),\quad \Phi(x) = \tfrac12\operatorname{erfc}(-x/\sqrt2)",
            "x": r"\partial_x f = \Phi(x) + x\,\varphi(x)",
            "dxx": r"\partial_x^2 f = \varphi(x)\,(2 - x^2)",
        },
        at_zero=lambda p: {"value": 0.0, "x": 0.5, "dxx": 2 / math.sqrt(2 * math.pi)},
        limits=_gelu_like_limits(),
        identities=_SYMMETRY[:3] + _SYMMETRY[4:],
        extrema="Minimum at x* = -0.7517915, value -0.1699712.",
        decisions=(
            "Φ is computed from the tail c = erfc(|x|/√2)/2 as c for x < 0 and 1 - c otherwise, "
            "never as (1 + erf(x/√2))/2, which is exactly 0 for x ≤ -6 in float32. Keeping every "
            "factor at most 1 (not erfc(-x/√2) ≤ 2 times 1/2) means no product overflows where "
            "its value is finite when a compiler reassociates it, as TensorFlow's graph optimiser "
            "does (x·Φ(x) near the largest float64 inside tf.function).",
            "torch's default and tf.nn.gelu / keras.activations.gelu are this form; "
            "jax.nn.gelu and keras.ops.gelu default to the tanh form.",
        ),
    ),
    FunctionSpec(
        name="gelu_tanh",
        title="GELU, tanh approximation",
        summary="½x(1 + tanh(√(2/π)(x + 0.044715x³)))",
        params=(),
        latex={
            "value": r"f(x) = \tfrac12 x\bigl(1 + \tanh\bigl(\sqrt{2/\pi}\,(x + 0.044715x^3)\bigr)\bigr)"
            r" = x\,\sigma(z),\quad z = 2\sqrt{2/\pi}\,(x + 0.044715x^3)",
            "x": r"\partial_x f = \sigma(z) + x z'\,\sigma(z)\bar\sigma(z)",
            "dxx": r"\partial_x^2 f = \sigma(z)\bar\sigma(z)\bigl(2z' + xz'' - xz'^2\tanh(z/2)\bigr)",
        },
        at_zero=lambda p: {"value": 0.0, "x": 0.5, "dxx": _SQRT_2_OVER_PI},
        limits=_gelu_like_limits(),
        identities=_SYMMETRY[:3] + _SYMMETRY[4:],
        decisions=(
            "1 + tanh(y) is computed as 2σ(2y): the literal form cancels to 0 for y ≲ -9 in float32.",
            "max |tanh form - exact| ≈ 4.7e-4: a different function, with its own name.",
        ),
    ),
    FunctionSpec(
        name="gelu_sigmoid",
        title="GELU, sigmoid approximation",
        summary="x·σ(1.702x)",
        params=(),
        latex={
            "value": r"f(x) = x\,\sigma(kx),\quad k = 1.702",
            "x": r"\partial_x f = \sigma(kx)\bigl(1 + kx\,\bar\sigma(kx)\bigr)",
            "dxx": r"\partial_x^2 f = k\,S(kx)",
        },
        at_zero=lambda p: {"value": 0.0, "x": 0.5, "dxx": SIGMOID_GELU_SLOPE / 2},
        limits=_gelu_like_limits(),
        identities=_SYMMETRY[:3] + _SYMMETRY[4:],
        extrema="Minimum at x* = -1.2784645/1.702 = -0.7511542, value -0.1636102.",
        decisions=("k = 1.702 is the decimal literal of the authors' code, not a rounded √(8/π)·….",),
    ),
    FunctionSpec(
        name="sswish",
        title="SSwish (shifted, learnable-slope Swish)",
        summary="x·σ(βx) - γ",
        params=(BETA_LEARNED, GAMMA),
        latex=_SSWISH_LATEX,
        at_zero=lambda p: {"value": -p["gamma"], "x": 0.5, "beta": 0.0, "gamma": -1.0, "dxx": p["beta"] / 2},
        limits=lambda p: {
            side: {**v, "value": v["value"] - p["gamma"], "gamma": -1.0}
            for side, v in _swish_limits(p).items()
        },
        identities=_SYMMETRY,
        extrema="Single minimum at x* = -(1 + W(1/e))/β = -1.2784645/β, value -0.2784645/β - γ (β > 0).",
        decisions=(
            "The paper's 'first-order symmetric' means exactly: f(x) - f(-x) = x, i.e. "
            "f(x) - x/2 is even and f' - 1/2 is odd. SSwish is neither even nor odd, and the "
            "same identity holds for Swish, every GELU form, λ-GELU and SG-Blend.",
            _BETA_DOMAIN_DECISION,
        ),
        source="Sarkar, Gala, Tripathi, arXiv 2505.23942, and the authors' Keras layer",
    ),
    _blend("sgblend", "SG-Blend (authors' layer)", _SIGMOID_GELU_LATEX, SIGMOID_GELU_SLOPE / 2, "gelu_sigmoid"),
    _blend("sgblend_gelu", "SG-Blend, exact-GELU variant", _EXACT_GELU_LATEX, 2 / math.sqrt(2 * math.pi),
           "gelu"),
    _blend("sgblend_gelu_tanh", "SG-Blend, tanh-GELU variant", _TANH_GELU_LATEX, _SQRT_2_OVER_PI,
           "gelu_tanh"),
    FunctionSpec(
        name="lambda_gelu",
        title="λ-GELU",
        summary="x·Φ(λx), λ ≥ 1",
        params=(LAM,),
        latex={
            "value": r"f(x) = x\,\Phi(\lambda x)",
            "x": r"\partial_x f = \Phi(v) + v\,\varphi(v),\quad v = \lambda x",
            "lam": r"\partial_\lambda f = x^2\,\varphi(v) \ge 0",
            "dxx": r"\partial_x^2 f = \lambda\,\varphi(v)\,(2 - v^2)",
        },
        at_zero=lambda p: {"value": 0.0, "x": 0.5, "lam": 0.0, "dxx": 2 * p["lam"] / math.sqrt(2 * math.pi)},
        limits=_gelu_like_limits({"lam": 0.0}),
        identities=_SYMMETRY,
        extrema="Minimum at x* = -0.7517915/λ, value -0.1699712/λ; ReLU - f = |x|Φ(-λ|x|) ≥ 0, "
        "sup 0.16997/λ; ‖f - ReLU‖₁ = 1/(2λ²); sup_x ∂λf = 0.29353/λ².",
        decisions=(
            "λ ∈ [1, ∞); λ = 1 is exact GELU. Trained through λ = 1 + ρ², which reaches λ = 1 "
            "exactly with no clipping.",
            "The paper names a target, an optimizer-aware update and a hardening schedule but "
            "its recipe is not available; the training rules below are this library's "
            "definitions, each with its derivation.",
        ),
        source="Pérez-Corral et al., arXiv 2603.21991",
        training=_LAMBDA_GELU_TRAINING,
    ),
)


def trainable(function: str) -> dict[str, Parameter]:
    """The trainable (raw) parameter names of ``function``'s layer -> their spec Parameter
    (``rho`` for λ, trained through λ = 1 + ρ²; the others under their own names)."""
    out = {}
    for p in FUNCTIONS[function].params:
        out[p.reparam.raw if p.reparam is not None else p.name] = p
    return out
