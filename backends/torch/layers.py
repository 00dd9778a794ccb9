"""nn.Modules: Swish, GELU, SSwish, SGBlend, LambdaGELU, their constraints and parameter import.

The layer logic that does not depend on torch (which spec function a module evaluates, the
initial values and their checks, the authors' glorot draw of β, the projections after each
step) is :mod:`sgblend_spec.layers`; a module here holds its parameters as ``nn.Parameter``
of shape (num_parameters,), broadcast along dim 1 like ``nn.PReLU``, and checks the
parameters it loads (``load_state_dict``, :func:`import_parameters`).

Precision. Every module takes ``precision=`` ("fast", the default, or "exact"; see
:mod:`.functional`), shows it in its repr and keeps it in its ``state_dict`` (extra state,
so a checkpoint restores the tier; a state_dict saved before the tiers existed loads and
keeps the module's own). A module's parameters are checked where they change
(construction, ``load_state_dict``, :func:`import_parameters`, the constraint hook of
:func:`register_constraints`), not on each call: a forward or backward reads nothing back
from the device.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from sgblend_spec import checks, layers, spec

from .contract import dtype_name, from_numpy
from .functional import DEFAULT_PRECISION, evaluate, swish
from .numerics import NAMESPACE

#: Each module's default parameter values, from the spec records: DEFAULTS["swish"]["beta"] ...
DEFAULTS = {name: record.defaults for name, record in spec.FUNCTIONS.items()}


def check_factory_dtype(module: str, dtype) -> None:
    """The ``dtype=`` of a module's parameters must be real floating (not integer or complex)."""
    if dtype is not None:
        checks.check_parameter_dtype(module, dtype_name(dtype) if isinstance(dtype, torch.dtype) else str(dtype))


class _Activation(nn.Module):
    """Shared plumbing: per-channel parameters broadcast along dim 1, like nn.PReLU; the
    trainable parameters of ``function`` made, reset and projected from their
    :class:`sgblend_spec.layers.LayerParameter`."""

    num_parameters: int
    precision: str = DEFAULT_PRECISION

    def _set_precision(self, precision: str) -> None:
        self.precision = checks.check_precision(type(self).__name__, precision)

    def get_extra_state(self) -> torch.Tensor:
        """The precision tier, saved in the state_dict as a 0-d int8 tensor holding its index in
        ``spec.PRECISIONS`` (a tensor, so safetensors and transformers' save_pretrained keep it)."""
        return torch.tensor(spec.PRECISIONS.index(self.precision), dtype=torch.int8)

    def set_extra_state(self, state) -> None:
        if isinstance(state, torch.Tensor):
            if state.device.type == "meta":  # an empty model being materialised: keep the tier
                return
            index = int(state.reshape(-1)[0]) if state.numel() else -1
            if not 0 <= index < len(spec.PRECISIONS):
                raise ValueError(f"{type(self).__name__}: loaded precision index {index} is not one of "
                                 f"{dict(enumerate(spec.PRECISIONS))}")
            state = spec.PRECISIONS[index]
        elif isinstance(state, dict):
            state = state.get("precision", self.precision)
        self._set_precision(state)

    def check_parameters_(self) -> "_Activation":
        """ValueError unless every parameter is finite and maps into the function's domain
        (one host read; run where parameters change, e.g. after an optimizer step)."""
        for raw, lp in getattr(self, "layer_parameters", {}).items():
            t = getattr(self, raw).detach()
            ok = checks.domain_mask(lp.parameter, lp.to_spec(t), torch.isfinite)
            if not bool(ok.all()):
                bad = float(t[~ok].reshape(-1)[0])
                raise ValueError(f"{type(self).__name__}: parameter '{raw}' left its domain "
                                 f"({checks.domain_message(self.function, lp.parameter)}), got {bad!r}")
        return self

    def _make_parameters(self, initial: dict, num_parameters: int, device, dtype) -> None:
        name = type(self).__name__
        self.num_parameters = layers.check_num_parameters(name, num_parameters)
        self.layer_parameters = layers.layer_parameters(name, self.function, initial)
        check_factory_dtype(name, dtype)
        for raw in self.layer_parameters:
            setattr(self, raw, nn.Parameter(torch.empty(num_parameters, device=device, dtype=dtype)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            for raw, lp in self.layer_parameters.items():
                if lp.glorot:
                    # Keras glorot_uniform on shape (1,): fan_in = fan_out = 1, limit √(6/2) = √3.
                    getattr(self, raw).uniform_(-layers.GLOROT_SCALAR_LIMIT, layers.GLOROT_SCALAR_LIMIT)
                else:
                    getattr(self, raw).fill_(lp.initial_raw)

    def _channel(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """A (C,) parameter as (C, 1, ..., 1) for x of shape (N, C, ...); (1,) as a scalar."""
        if self.num_parameters == 1:
            return t.reshape(())
        if x.dim() < 2 or x.shape[1] != self.num_parameters:
            raise ValueError(
                f"{type(self).__name__}: num_parameters={self.num_parameters} needs an input with "
                f"{self.num_parameters} channels on dim 1, got shape {tuple(x.shape)}"
            )
        return t.reshape((-1,) + (1,) * (x.dim() - 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        params = {lp.parameter.name: self._channel(lp.to_spec(getattr(self, raw)), x)
                  for raw, lp in self.layer_parameters.items()}
        return evaluate(self.function, x, params, self.precision, check_domain=False)

    def project_(self) -> "_Activation":
        """Project each constrained parameter, in place (after a step): the authors' scalar α by
        Keras MinMaxNorm(0, 1), ε included; per-channel α and β by a clip to their interval."""
        per_channel = self.num_parameters != 1
        with torch.no_grad():
            for raw, lp in getattr(self, "layer_parameters", {}).items():
                if layers.projection(lp.parameter, per_channel) is not None:
                    t = getattr(self, raw)
                    t.copy_(layers.project(NAMESPACE, lp.parameter, t, per_channel))
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Check each loaded parameter (spec.INPUT_CONTRACT "layer.load"): real floating, the
        module's shape, finite and mapping into the function's domain. The layer constraint is
        not enforced: a checkpoint of the authors' layer before its first update holds β ≤ 0."""
        for name, param in self._parameters.items():
            key = prefix + name
            if param is None or key not in state_dict:
                continue
            value = state_dict[key]
            if isinstance(value, torch.Tensor):
                if not value.is_floating_point():
                    raise TypeError(f"{type(self).__name__}: loaded parameter '{name}' must be real floating "
                                    f"point, got dtype {dtype_name(value.dtype)}")
                value = value.detach().to("cpu", torch.float64).numpy()
            checks.check_loaded(type(self).__name__, self.function, name, value, tuple(param.shape))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        # A state_dict from before the precision tiers has no extra state: keep the module's tier.
        missing = args[2] if len(args) > 2 else kwargs.get("missing_keys", [])
        key = prefix + torch.nn.modules.module._EXTRA_STATE_KEY_SUFFIX
        if key in missing:
            missing.remove(key)


class Swish(_Activation):
    """Swish-β, x·σ(βx), with a fixed β ≥ 0 (β = 1 is SiLU). No learnable parameters."""

    function = "swish"

    def __init__(self, beta: float = DEFAULTS["swish"]["beta"], *, precision: str = DEFAULT_PRECISION):
        super().__init__()
        self.beta = checks.validate("swish", {"beta": beta})["beta"]
        self.num_parameters = 1
        self._set_precision(precision)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return swish(x, self.beta, precision=self.precision)

    def extra_repr(self) -> str:
        return f"beta={self.beta!r}, precision={self.precision!r}"


class GELU(_Activation):
    """GELU in one of its three forms: approximate='none' (exact x·Φ(x)), 'tanh', 'sigmoid'."""

    def __init__(self, approximate: str = "none", *, precision: str = DEFAULT_PRECISION):
        super().__init__()
        self.function = layers.choose("GELU", "approximate", approximate, layers.GELU_FORMS)
        self.approximate = approximate
        self.num_parameters = 1
        self._set_precision(precision)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return evaluate(self.function, x, {}, self.precision)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}, precision={self.precision!r}"


class SSwish(_Activation):
    """SSwish, x·σ(βx) - γ, with learnable β and γ.

    ``beta=None`` (default) is the authors' initialisation: glorot_uniform on shape (1,),
    i.e. U(-√3, √3) per channel, which may be negative until the first :meth:`project_`.
    An explicit ``beta`` initialises deterministically and must lie in [0.1, 10].
    :meth:`project_` (run it after each optimizer step, e.g. via
    :func:`register_constraints`) clips β to [0.1, 10]; γ is free.
    ``num_parameters=C`` gives per-channel β, γ of shape (C,), broadcast along dim 1.
    """

    function = "sswish"

    def __init__(self, beta: float | None = None, gamma: float = DEFAULTS["sswish"]["gamma"], num_parameters: int = 1,
                 *, device=None, dtype=None, precision: str = DEFAULT_PRECISION):
        super().__init__()
        self._set_precision(precision)
        self._make_parameters({"beta": beta, "gamma": gamma}, num_parameters, device, dtype)
        self.beta_init = self.layer_parameters["beta"].initial
        self.gamma_init = self.layer_parameters["gamma"].initial

    def extra_repr(self) -> str:
        beta = "glorot_uniform" if self.beta_init is None else repr(self.beta_init)
        return (f"num_parameters={self.num_parameters}, beta_init={beta}, gamma_init={self.gamma_init!r}, "
                f"precision={self.precision!r}")


class SGBlend(_Activation):
    """SG-Blend, σ(α)·SSwish(x; β, γ) + σ(-α)·g(x), with learnable raw α, β, γ.

    Defaults reproduce the authors' released layer: ``gelu='sigmoid'`` (g = x·σ(1.702x)),
    α = 0 (a = σ(α) = 1/2), γ = 0, and ``beta=None`` = glorot_uniform U(-√3, √3), clipped
    only after an optimizer step. ``gelu='exact'`` / ``'tanh'`` blend with the exact / tanh
    GELU (spec functions sgblend_gelu / sgblend_gelu_tanh). An explicit ``beta`` is a
    deterministic initialisation and must lie in [0.1, 10]; an explicit ``alpha`` must lie
    in [-1, 1]. :meth:`project_` clips α to [-1, 1] and β to [0.1, 10] (the Keras
    constraints, which act after each update; see :func:`register_constraints`).
    ``num_parameters=C`` gives per-channel parameters of shape (C,), broadcast along dim 1.
    """

    def __init__(self, alpha: float = DEFAULTS["sgblend"]["alpha"], beta: float | None = None,
                 gamma: float = DEFAULTS["sgblend"]["gamma"], gelu: str = "sigmoid", num_parameters: int = 1,
                 *, device=None, dtype=None, precision: str = DEFAULT_PRECISION):
        super().__init__()
        self._set_precision(precision)
        self.function = layers.choose("SGBlend", "gelu", gelu, layers.SGBLEND_VARIANTS)
        self.gelu = gelu
        self._make_parameters({"alpha": alpha, "beta": beta, "gamma": gamma}, num_parameters, device, dtype)
        self.alpha_init, self.beta_init, self.gamma_init = (
            self.layer_parameters[n].initial for n in ("alpha", "beta", "gamma"))

    @classmethod
    def authors(cls, **kwargs) -> "SGBlend":
        """The authors' released layer: α = 0, β ~ U(-√3, √3), γ = 0, sigmoid-GELU partner."""
        for fixed in ("alpha", "beta", "gamma", "gelu"):
            if fixed in kwargs:
                raise TypeError(f"SGBlend.authors() fixes {fixed}; construct SGBlend(...) to choose it")
        return cls(**kwargs)

    def extra_repr(self) -> str:
        beta = "glorot_uniform" if self.beta_init is None else repr(self.beta_init)
        return (f"num_parameters={self.num_parameters}, gelu={self.gelu!r}, alpha_init={self.alpha_init!r}, "
                f"beta_init={beta}, gamma_init={self.gamma_init!r}, precision={self.precision!r}")


class LambdaGELU(_Activation):
    """λ-GELU, x·Φ(λx), with λ = 1 + ρ² trained through the raw parameter ``rho``.

    ``lam`` (default 1 + ln 2) must be ≥ 1; ρ starts at √(λ - 1). ``lam`` is a read-only
    property. The reparameterisation keeps λ ≥ 1 without clipping, so :meth:`project_`
    does nothing. ``num_parameters=C`` gives a per-channel ρ of shape (C,), broadcast
    along dim 1.
    """

    function = "lambda_gelu"

    def __init__(self, lam: float = DEFAULTS["lambda_gelu"]["lam"], num_parameters: int = 1, *, device=None, dtype=None,
                 precision: str = DEFAULT_PRECISION):
        super().__init__()
        self._set_precision(precision)
        self._make_parameters({"lam": lam}, num_parameters, device, dtype)
        self.lam_init = self.layer_parameters["rho"].initial

    @property
    def lam(self) -> torch.Tensor:
        """λ = 1 + ρ² (read-only)."""
        return 1 + self.rho * self.rho

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}, lam_init={self.lam_init!r}, precision={self.precision!r}"


def register_constraints(optimizer: torch.optim.Optimizer, model: nn.Module):
    """Run ``project_()`` on every activation module of ``model`` after each ``optimizer.step()``.

    This is the Keras constraint semantics of the authors' layer (applied after the update,
    not at initialisation). The hook then checks the parameters (``check_parameters_``: a
    ValueError naming one that is no longer finite): the one host read per step, where the
    parameters change, instead of one per forward call. Returns the hook handle;
    ``handle.remove()`` undoes it.
    """
    modules = [m for m in model.modules() if isinstance(m, _Activation)]

    def project(opt, args, kwargs) -> None:
        for m in modules:
            m.project_().check_parameters_()

    return optimizer.register_step_post_hook(project)


def import_parameters(module: nn.Module, parameters: dict) -> nn.Module:
    """Load parameters keyed by spec name (e.g. from the Keras layer's
    ``sgblend_spec.backends.tensorflow.export_parameters``) into ``module``, in place.

    Names and shapes must match the module's (scalars are shape (1,) in both frameworks);
    values are checked as by ``load_state_dict`` (spec.INPUT_CONTRACT "layer.load"), and an
    integer, bool or complex array is a TypeError rather than a cast.
    """
    state = {}
    for k, v in parameters.items():
        if k == torch.nn.modules.module._EXTRA_STATE_KEY_SUFFIX:  # the precision tier of a state_dict
            state[k] = v if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v))
            continue
        if not isinstance(v, torch.Tensor):
            kind = np.asarray(v).dtype
            if kind.kind != "f" and kind.name != "bfloat16":
                raise TypeError(f"import_parameters: parameter '{k}' must be real floating point, got dtype {kind}")
            v = from_numpy(np.asarray(v))
        elif not v.is_floating_point():
            raise TypeError(f"import_parameters: parameter '{k}' must be real floating point, got dtype "
                            f"{dtype_name(v.dtype)}")
        target = getattr(module, k, None)
        state[k] = v.to(target.dtype) if isinstance(target, torch.Tensor) else v
    module.load_state_dict(state, strict=True)
    return module
