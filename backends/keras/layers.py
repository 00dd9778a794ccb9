"""Keras 3 layers for every Keras backend, registered serializable under the package "sgblend_spec".

:class:`Swish`, :class:`GELU`, :class:`SSwish`, :class:`SGBlend`, :class:`LambdaGELU`, on the
plumbing they share (:mod:`.base`) and their weights' initializer and constraints
(:mod:`.weights`). ``SGBlend()`` is the authors' released layer; see its docstring. The
framework-free logic (which spec function a layer evaluates, initial values, how each
parameter is kept after an update) is :mod:`sgblend_spec.layers`; these classes use only
``keras`` and ``keras.ops`` and evaluate
through :func:`.dispatch.evaluate`, the active Keras backend's own binding (TensorFlow, JAX
or torch), so values, gradients and tiers are that binding's. The registered names
("sgblend_spec>SGBlend", ...) do not depend on the backend: a ``.keras`` file saved under one
loads under the others. Keras loading (``set_weights``, ``load_weights``, ``load_model``)
checks each weight (spec.INPUT_CONTRACT "layer.load").

Every layer takes ``precision="fast"`` (default) or ``"exact"`` (``spec.PRECISIONS``), kept in
its config. A config without ``precision`` (a file saved before the tiers existed, when every
layer evaluated the exact tier) loads as ``"exact"``.
"""

from __future__ import annotations

import keras
import numpy as np

from sgblend_spec import checks, spec
from sgblend_spec import layers as framework_free

from . import dispatch
from .base import ActivationLayer, ParametricLayer
from .weights import PACKAGE, Clip, ExactConstant, Fill, constraint, initial_beta  # noqa: F401  (re-exported)

#: Each layer's default parameter values, from the spec records: DEFAULTS["swish"]["beta"] ...
DEFAULTS = {name: record.defaults for name, record in spec.FUNCTIONS.items()}


@keras.saving.register_keras_serializable(package=PACKAGE)
class Swish(ActivationLayer):
    """Swish-β, x·σ(βx), with a fixed β ≥ 0 (β = 1 is SiLU). No weights."""

    function = "swish"

    def __init__(self, beta: float = DEFAULTS["swish"]["beta"], **kwargs):
        super().__init__(**kwargs)
        self.beta = checks.validate("swish", {"beta": beta})["beta"]

    def call(self, inputs):
        return self._evaluate(inputs, {"beta": self.beta})

    def get_config(self) -> dict:
        return {**super().get_config(), "beta": self.beta}


@keras.saving.register_keras_serializable(package=PACKAGE)
class GELU(ActivationLayer):
    """GELU in one of its three forms: approximate='none' (exact x·Φ(x)), 'tanh', 'sigmoid'."""

    def __init__(self, approximate: str = "none", **kwargs):
        super().__init__(**kwargs)
        self.function = framework_free.choose("GELU", "approximate", approximate, framework_free.GELU_FORMS)
        self.approximate = approximate

    def call(self, inputs):
        return self._evaluate(inputs, {})

    def get_config(self) -> dict:
        return {**super().get_config(), "approximate": self.approximate}


@keras.saving.register_keras_serializable(package=PACKAGE)
class SSwish(ParametricLayer):
    """SSwish, x·σ(βx) - γ, with trainable β (weight "beta") and γ (weight "gamma").

    β: ``beta_initializer`` (default "glorot_uniform", the authors' U(-√3, √3) on shape (1,),
    which can be negative until the first update) or an explicit ``beta`` in [0.1, 10];
    constraint :class:`Clip` (0.1, 10), which Keras applies after each optimizer update.
    γ starts at ``gamma`` (0), unconstrained. ``per_channel=True``: shapes (C,) over the last axis.
    """

    function = "sswish"

    def __init__(self, beta: float | None = None, gamma: float = DEFAULTS["sswish"]["gamma"],
                 beta_initializer=None, per_channel: bool = False, **kwargs):
        super().__init__(per_channel=per_channel, **kwargs)
        self._init_beta_gamma(beta, gamma, beta_initializer)
        self.make_scalar_weights()

    def make_weights(self, shape):
        self._make_beta_gamma(shape)

    def call(self, inputs):
        return self._evaluate(inputs, {"beta": self._param(self.beta), "gamma": self._param(self.gamma)})

    def get_config(self) -> dict:
        return {**super().get_config(), **self._beta_gamma_config()}


#: The smallest distance of a from 0 and 1 in the direct parameterisation, so that
#: α = logit(a) stays finite (|α| ≤ 36.7); a relative change of 2^-53 in the blend weights.
DIRECT_ALPHA_EPS = 2.0**-53


@keras.saving.register_keras_serializable(package=PACKAGE)
class SGBlend(ParametricLayer):
    """SG-Blend, σ(α)·SSwish(x; β, γ) + σ(-α)·g(x).

    Defaults reproduce the authors' released Keras layer exactly: weights "alpha", "beta",
    "gamma" of shape (1,), created in that order (at construction; per-channel weights in
    ``build``), so their trained weights load; α starts at 0 with
    ``keras.constraints.MinMaxNorm(0, 1)`` (keeps |α| ≤ 1); β from glorot_uniform
    (U(-√3, √3) on shape (1,)) with :class:`Clip` (0.1, 10); γ = 0 unconstrained;
    g(x) = x·σ(1.702x). Keras applies constraints after each update, not at initialisation.
    One instance shares its parameters wherever it is called.

    Variants: ``gelu='exact'`` / ``'tanh'`` blend with the exact / tanh GELU (spec functions
    sgblend_gelu / sgblend_gelu_tanh); ``beta=1.0`` or ``beta_initializer='ones'`` is the
    deterministic β; ``per_channel=True`` gives shapes (C,) over the last axis (then α is
    clipped to [-1, 1] elementwise: MinMaxNorm on a (C,) vector would bound its joint norm);
    ``alpha_parameterization='direct'`` trains a = σ(α) itself as weight "a" (initial value
    σ(``alpha``)), clipped to [0, 1]; it is evaluated as α = logit(a) with a kept
    :data:`DIRECT_ALPHA_EPS` away from 0 and 1 (straight-through, so ∂F/∂a = SSwish - g
    holds at the ends too).
    """

    _ALPHA = ("raw", "direct")

    def __init__(self, alpha: float = DEFAULTS["sgblend"]["alpha"], beta: float | None = None,
                 gamma: float = DEFAULTS["sgblend"]["gamma"], gelu: str = "sigmoid",
                 alpha_parameterization: str = "raw", beta_initializer=None, per_channel: bool = False,
                 **kwargs):
        super().__init__(per_channel=per_channel, **kwargs)
        name = type(self).__name__
        self.function = framework_free.choose(name, "gelu", gelu, framework_free.SGBLEND_VARIANTS)
        if alpha_parameterization not in self._ALPHA:
            raise ValueError(f"{name}: alpha_parameterization must be one of {list(self._ALPHA)}, "
                             f"got {alpha_parameterization!r}")
        self.gelu = gelu
        self.alpha_parameterization = alpha_parameterization
        self.alpha_value = checks.check_initial_value(name, spec.FUNCTIONS[self.function].parameter("alpha"), alpha)
        self._init_beta_gamma(beta, gamma, beta_initializer)
        self.make_scalar_weights()

    def make_weights(self, shape):
        alpha = spec.FUNCTIONS[self.function].parameter("alpha")
        if self.alpha_parameterization == "direct":
            a = alpha.reparam.forward(self.alpha_value)
            self.alpha = self.add_weight(name="a", shape=shape, initializer=ExactConstant(a),
                                         constraint=Clip(0.0, 1.0), autocast=False)
        else:
            self.alpha = self._add_parameter("alpha", shape, ExactConstant(self.alpha_value), alpha)
        self._make_beta_gamma(shape)

    def _raw_alpha(self):
        if self.alpha_parameterization == "raw":
            return self._param(self.alpha)
        wide = dispatch.wide_dtype()
        a = keras.ops.cast(self._param(self.alpha), wide)
        eps = DIRECT_ALPHA_EPS if wide == "float64" else 2.0**-24  # 1 - eps representable
        # The bounds as tensors of a's dtype: a Python float bound becomes float32 (1 - 2^-53 → 1) under torch.
        lo, hi = (keras.ops.convert_to_tensor(bound, dtype=wide) for bound in (eps, 1.0 - eps))
        kept = a + keras.ops.stop_gradient(keras.ops.clip(a, lo, hi) - a)
        return keras.ops.log(kept) - keras.ops.log1p(-kept)

    def call(self, inputs):
        params = {"alpha": self._raw_alpha(), "beta": self._param(self.beta), "gamma": self._param(self.gamma)}
        return self._evaluate(inputs, params)

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha_value, **self._beta_gamma_config(), "gelu": self.gelu,
                "alpha_parameterization": self.alpha_parameterization}


@keras.saving.register_keras_serializable(package=PACKAGE)
class LambdaGELU(ParametricLayer):
    """λ-GELU, x·Φ(λx), trained through the weight "rho" with λ = 1 + ρ² (spec.LAM.reparam).

    ``lam`` (default 1 + ln 2) must be ≥ 1; ρ starts at √(λ - 1). :attr:`lam` is read-only.
    λ is formed in float64 from ρ (float32 under JAX with x64 off), so it is not rounded to
    the weight's dtype.
    """

    function = "lambda_gelu"

    def __init__(self, lam: float = DEFAULTS["lambda_gelu"]["lam"], per_channel: bool = False, **kwargs):
        super().__init__(per_channel=per_channel, **kwargs)
        name = type(self).__name__
        lam_parameter = spec.FUNCTIONS[self.function].parameter("lam")
        self.lam_value = checks.check_initial_value(name, lam_parameter, lam, "parameter 'lam'")
        self._lam = framework_free.layer_parameters(name, self.function, {"lam": self.lam_value})["rho"]
        self.make_scalar_weights()

    def make_weights(self, shape):
        self.rho = self._add_parameter("rho", shape, ExactConstant(self._lam.initial_raw), self._lam.parameter)

    @property
    def lam(self):
        """λ = 1 + ρ² (read-only; same shape and dtype as ρ)."""
        return self._lam.to_spec(keras.ops.convert_to_tensor(self.rho))

    def call(self, inputs):
        rho = keras.ops.cast(self._param(self.rho), dispatch.wide_dtype())
        return self._evaluate(inputs, {"lam": self._lam.to_spec(rho)})

    def get_config(self) -> dict:
        return {**super().get_config(), "lam": self.lam_value}


def export_parameters(layer: keras.layers.Layer) -> dict[str, np.ndarray]:
    """A layer's trainable parameters as NumPy arrays keyed by their spec names.

    This is the interchange format of the weight converter: the torch modules' state_dict
    and the JAX parameter pytrees use the same names and shapes (load with
    ``sgblend_spec.backends.torch.import_parameters`` or ``...jax.import_parameters``).
    """
    return {v.name.split("/")[-1].split(":")[0]: np.array(keras.ops.convert_to_numpy(v))
            for v in layer.trainable_weights}
