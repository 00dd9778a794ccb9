"""Keras 3 layers for every Keras backend, registered serializable under the package "sgblend_spec".

:class:`Swish`, :class:`GELU`, :class:`SSwish`, :class:`SGBlend`, :class:`LambdaGELU`, the
:class:`Clip` constraint and the :class:`Fill` initializer. ``SGBlend()`` is the authors'
released layer; see its docstring. The framework-free logic (which spec function a layer
evaluates, initial values, how each parameter is kept after an update) is
:mod:`sgblend_spec.layers`; these classes use only ``keras`` and ``keras.ops`` and evaluate
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

import random

import keras
import numpy as np

from sgblend_spec import checks, spec
from sgblend_spec import layers as framework_free

from . import dispatch

PACKAGE = "sgblend_spec"
_D = {name: record.defaults for name, record in spec.FUNCTIONS.items()}


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


@keras.saving.register_keras_serializable(package=PACKAGE)
class Fill(keras.initializers.Initializer):
    """Every element equal to ``value``, rounded once to the weight's dtype.

    keras.initializers.Constant goes through float32, so Constant(0.3) gives a float64
    weight of 0.30000001192...; parity across frameworks needs the float64 value itself.
    """

    def __init__(self, value: float):
        self.value = float(value)

    def __call__(self, shape, dtype=None):
        wide = keras.ops.full(shape, self.value, dtype=dispatch.wide_dtype())
        return keras.ops.cast(wide, dtype or keras.backend.floatx())

    def get_config(self) -> dict:
        return {"value": self.value}


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


class _Activation(keras.layers.Layer):
    """Shared plumbing of the activation layers: elementwise, shape-preserving, maskable, with
    the precision tier ``precision`` ("fast" or "exact")."""

    def __init__(self, precision: str = "fast", **kwargs):
        super().__init__(**kwargs)
        dispatch.framework()  # an unsupported Keras backend is an error here, not at the first call
        self.precision = checks.check_precision(type(self).__name__, precision)
        self.supports_masking = True
        policy = self.dtype_policy
        for role, dtype in (("weights", policy.variable_dtype), ("computation", policy.compute_dtype)):
            if dtype not in spec.DTYPES:
                raise TypeError(f"{type(self).__name__}: dtype policy {policy.name!r} uses {dtype} for its "
                                f"{role}; it must be float16, bfloat16, float32 or float64")

    def compute_output_shape(self, input_shape):
        return input_shape

    def _evaluate(self, inputs, params: dict):
        """The layer's spec function at ``inputs`` through the active backend's binding."""
        return dispatch.evaluate(self.function, inputs, params, self.precision)

    def get_config(self) -> dict:
        return {**super().get_config(), "precision": self.precision}

    @classmethod
    def from_config(cls, config: dict):
        """A config without "precision" was saved before the tiers existed, when every layer
        evaluated the exact tier: it loads as ``precision="exact"``."""
        return super().from_config({"precision": "exact", **config})


class _Parametric(_Activation):
    """Trainable parameters: scalars of shape (1,) shared by the layer instance, or
    per-channel vectors of shape (C,) over the last axis (``per_channel=True``).

    Weights are created with ``autocast=False``: under a mixed precision policy they stay in
    the variable dtype (float32) inside ``call`` instead of being rounded to float16, while
    the input is cast to the compute dtype as usual.
    """

    def __init__(self, per_channel: bool = False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(per_channel, bool):
            raise TypeError(f"{type(self).__name__}: per_channel must be True or False, got {per_channel!r}")
        self.per_channel = per_channel

    def _weight_shape(self, input_shape) -> tuple[int]:
        if not self.per_channel:
            return (1,)
        channels = input_shape[-1] if len(input_shape) else None
        if channels is None:
            raise ValueError(
                f"{type(self).__name__}: per_channel=True needs a known last (channel) dimension, "
                f"got input shape {tuple(input_shape)}"
            )
        self.input_spec = keras.layers.InputSpec(min_ndim=1, axes={-1: channels})
        return (int(channels),)

    def make_weights(self, shape: tuple[int]) -> None:
        """Create the layer's weights of ``shape`` (each subclass, in the authors' order)."""
        raise NotImplementedError

    def make_scalar_weights(self) -> None:
        """Scalar weights are created at construction (end of each subclass ``__init__``), so
        the layer is built before Keras ever sees it.

        Why: a layer passed as ``Dense(3, activation=SGBlend())`` is built only when the Dense
        layer is first *called*; a Sequential model given an ``Input`` builds Dense from shapes
        without calling it, so a model saved (``.keras``, ``save_weights``) before its first
        call held no α, β, γ and reloaded with a fresh random β. With the weights made here,
        every placement saves and reloads them. Per-channel weights need the channel count:
        they are made in :meth:`build`, or from the stored shapes on load.
        """
        if not self.per_channel:
            self.make_weights((1,))
            self.built = True

    def seeded(self, initializer):
        """A per-channel layer's unseeded random initializer, given a seed drawn now (from
        Python's ``random``, which ``keras.utils.set_random_seed`` seeds) and kept in the config.

        Why: a per-channel layer builds on its first call (the channel count is unknown before),
        so a model saved before that call holds none of its weights; with the seed in the
        config the reloaded layer draws the same β when it builds.
        """
        config = initializer.get_config() if self.per_channel else {}
        if "seed" not in config or config["seed"] is not None:
            return initializer
        return type(initializer).from_config({**config, "seed": random.randrange(2**31)})

    def build(self, input_shape):
        if self._trainable_variables:  # made at construction (scalars), or built already
            return
        self.make_weights(self._weight_shape(input_shape))

    def _build_from_stored(self, shape) -> None:
        """Build an unbuilt per-channel layer from a stored weight's shape (C,) before loading it."""
        if not self.built and self.per_channel and len(shape) == 1:
            self.build((None, int(shape[0])))

    def _add_parameter(self, name: str, shape, initializer, parameter: spec.Parameter | None = None):
        return self.add_weight(name=name, shape=shape, initializer=initializer, autocast=False,
                               constraint=None if parameter is None else constraint(parameter, self.per_channel))

    def _param(self, variable):
        """A (1,) weight as a scalar (so the output keeps x's shape); a (C,) weight as is."""
        t = keras.ops.convert_to_tensor(variable)
        return keras.ops.reshape(t, ()) if not self.per_channel else t

    def get_config(self) -> dict:
        return {**super().get_config(), "per_channel": self.per_channel}

    def _check_loaded(self, values) -> None:
        """spec.INPUT_CONTRACT "layer.load": each weight real floating, of its shape, finite and
        mapping into the function's domain; the layer constraint is not enforced (a checkpoint of
        the authors' layer before its first update holds β ≤ 0)."""
        for variable, value in zip(self._trainable_variables + self._non_trainable_variables, values):
            checks.check_loaded(type(self).__name__, self.function, variable.name, np.asarray(value),
                                tuple(variable.shape))

    def set_weights(self, weights):
        """Keras ``set_weights``, with each weight checked first (see :meth:`_check_loaded`)."""
        if weights:
            self._build_from_stored(np.shape(weights[0]))
        if len(weights) == len(self.weights):
            self._check_loaded(weights)
        super().set_weights(weights)

    def add_weight(self, *args, **kwargs):
        """Keras ``add_weight``, remembering each weight's initializer (see :meth:`load_own_variables`)."""
        variable = super().add_weight(*args, **kwargs)
        self.__dict__.setdefault("_initial", {})[variable.name] = kwargs.get("initializer")
        return variable

    def save_own_variables(self, store):
        """Keras saving; a per-channel layer not built yet (its host never called) stores the
        seed its random β will be drawn from, as "seed", since it has no weights to store."""
        seed = getattr(getattr(self, "_beta_init", None), "seed", None)
        if not self.built and isinstance(seed, int):
            store["seed"] = np.array([seed])
            return
        super().save_own_variables(store)

    def load_own_variables(self, store):
        """Keras loading (``load_weights``, ``load_model``), each weight checked first; an
        unbuilt per-channel layer is built from the stored shapes first. A stored "seed" (the
        layer had not drawn its weights when saved) becomes β's seed, and a built layer takes
        the initial values that seed and its constant initial values give."""
        if "seed" in store:
            seed = int(np.asarray(store["seed"]).reshape(-1)[0])
            self._beta_init = type(self._beta_init).from_config({**self._beta_init.get_config(), "seed": seed})
            self.__dict__.get("_initial", {})["beta"] = self._beta_init
            for variable in self._trainable_variables + self._non_trainable_variables if self.built else ():
                initializer = keras.initializers.get(self._initial[variable.name])
                variable.assign(initializer(tuple(variable.shape), variable.dtype))
            return
        if "0" in store:
            self._build_from_stored(store["0"].shape)
        if self.built:
            self._check_loaded([store[str(i)] for i in range(len(self._trainable_variables
                                                                 + self._non_trainable_variables))
                                if str(i) in store])
        super().load_own_variables(store)


@keras.saving.register_keras_serializable(package=PACKAGE)
class Swish(_Activation):
    """Swish-β, x·σ(βx), with a fixed β ≥ 0 (β = 1 is SiLU). No weights."""

    function = "swish"

    def __init__(self, beta: float = _D["swish"]["beta"], **kwargs):
        super().__init__(**kwargs)
        self.beta = checks.validate("swish", {"beta": beta})["beta"]

    def call(self, inputs):
        return self._evaluate(inputs, {"beta": self.beta})

    def get_config(self) -> dict:
        return {**super().get_config(), "beta": self.beta}


@keras.saving.register_keras_serializable(package=PACKAGE)
class GELU(_Activation):
    """GELU in one of its three forms: approximate='none' (exact x·Φ(x)), 'tanh', 'sigmoid'."""

    def __init__(self, approximate: str = "none", **kwargs):
        super().__init__(**kwargs)
        self.function = framework_free.choose("GELU", "approximate", approximate, framework_free.GELU_FORMS)
        self.approximate = approximate

    def call(self, inputs):
        return self._evaluate(inputs, {})

    def get_config(self) -> dict:
        return {**super().get_config(), "approximate": self.approximate}


def initial_beta(layer: str, function: str, beta, initializer):
    """(initializer, config value): an explicit beta is a constant in [0.1, 10]; otherwise a
    Keras initializer, glorot_uniform (the authors' U(-√3, √3) on shape (1,)) by default."""
    if beta is not None and initializer is not None:
        raise ValueError(f"{layer}: give beta or beta_initializer, not both")
    parameter = framework_free.layer_parameters(layer, function, {"beta": beta})["beta"]
    if not parameter.glorot:
        return Fill(parameter.initial_raw), parameter.initial
    return keras.initializers.get(initializer or "glorot_uniform"), None


@keras.saving.register_keras_serializable(package=PACKAGE)
class SSwish(_Parametric):
    """SSwish, x·σ(βx) - γ, with trainable β (weight "beta") and γ (weight "gamma").

    β: ``beta_initializer`` (default "glorot_uniform", the authors' U(-√3, √3) on shape (1,),
    which can be negative until the first update) or an explicit ``beta`` in [0.1, 10];
    constraint :class:`Clip` (0.1, 10), which Keras applies after each optimizer update.
    γ starts at ``gamma`` (0), unconstrained. ``per_channel=True``: shapes (C,) over the last axis.
    """

    function = "sswish"

    def __init__(self, beta: float | None = None, gamma: float = _D["sswish"]["gamma"],
                 beta_initializer=None, per_channel: bool = False, **kwargs):
        super().__init__(per_channel=per_channel, **kwargs)
        name = type(self).__name__
        self._beta_init, self.beta_value = initial_beta(name, self.function, beta, beta_initializer)
        self._beta_init = self.seeded(self._beta_init)
        gamma_parameter = spec.FUNCTIONS[self.function].parameter("gamma")
        self.gamma_value = checks.check_initial_value(name, gamma_parameter, gamma, "parameter 'gamma'")
        self.make_scalar_weights()

    def make_weights(self, shape):
        record = spec.FUNCTIONS[self.function]
        self.beta = self._add_parameter("beta", shape, self._beta_init, record.parameter("beta"))
        self.gamma = self._add_parameter("gamma", shape, Fill(self.gamma_value), record.parameter("gamma"))

    def call(self, inputs):
        return self._evaluate(inputs, {"beta": self._param(self.beta), "gamma": self._param(self.gamma)})

    def get_config(self) -> dict:
        config = {"beta": self.beta_value, "gamma": self.gamma_value, "beta_initializer": None}
        if self.beta_value is None:
            config["beta_initializer"] = keras.initializers.serialize(self._beta_init)
        return {**super().get_config(), **config}


#: The smallest distance of a from 0 and 1 in the direct parameterisation, so that
#: α = logit(a) stays finite (|α| ≤ 36.7); a relative change of 2^-53 in the blend weights.
DIRECT_ALPHA_EPS = 2.0**-53


@keras.saving.register_keras_serializable(package=PACKAGE)
class SGBlend(_Parametric):
    """SG-Blend, σ(α)·SSwish(x; β, γ) + σ(-α)·g(x).

    Defaults reproduce the authors' released Keras layer exactly: weights "alpha", "beta",
    "gamma" of shape (1,), created in that order (at construction; per-channel weights in
    ``build``), so their trained weights load; α starts at 0 with ``keras.constraints.MinMaxNorm(0, 1)`` (keeps |α| ≤ 1); β
    from glorot_uniform (U(-√3, √3) on shape (1,)) with :class:`Clip` (0.1, 10); γ = 0
    unconstrained; g(x) = x·σ(1.702x). Keras applies constraints after each update, not at
    initialisation. One instance shares its parameters wherever it is called.

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

    def __init__(self, alpha: float = _D["sgblend"]["alpha"], beta: float | None = None,
                 gamma: float = _D["sgblend"]["gamma"], gelu: str = "sigmoid",
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
        self._beta_init, self.beta_value = initial_beta(name, self.function, beta, beta_initializer)
        self._beta_init = self.seeded(self._beta_init)
        gamma_parameter = spec.FUNCTIONS[self.function].parameter("gamma")
        self.gamma_value = checks.check_initial_value(name, gamma_parameter, gamma, "parameter 'gamma'")
        self.make_scalar_weights()

    def make_weights(self, shape):
        record = spec.FUNCTIONS[self.function]
        alpha = record.parameter("alpha")
        if self.alpha_parameterization == "direct":
            a = alpha.reparam.forward(self.alpha_value)
            self.alpha = self.add_weight(name="a", shape=shape, initializer=Fill(a),
                                         constraint=Clip(0.0, 1.0), autocast=False)
        else:
            self.alpha = self._add_parameter("alpha", shape, Fill(self.alpha_value), alpha)
        self.beta = self._add_parameter("beta", shape, self._beta_init, record.parameter("beta"))
        self.gamma = self._add_parameter("gamma", shape, Fill(self.gamma_value), record.parameter("gamma"))

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
        config = {
            "alpha": self.alpha_value, "beta": self.beta_value, "gamma": self.gamma_value, "gelu": self.gelu,
            "alpha_parameterization": self.alpha_parameterization, "beta_initializer": None,
        }
        if self.beta_value is None:
            config["beta_initializer"] = keras.initializers.serialize(self._beta_init)
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package=PACKAGE)
class LambdaGELU(_Parametric):
    """λ-GELU, x·Φ(λx), trained through the weight "rho" with λ = 1 + ρ² (spec.LAM.reparam).

    ``lam`` (default 1 + ln 2) must be ≥ 1; ρ starts at √(λ - 1). :attr:`lam` is read-only.
    λ is formed in float64 from ρ (float32 under JAX with x64 off), so it is not rounded to
    the weight's dtype.
    """

    function = "lambda_gelu"

    def __init__(self, lam: float = _D["lambda_gelu"]["lam"], per_channel: bool = False, **kwargs):
        super().__init__(per_channel=per_channel, **kwargs)
        name = type(self).__name__
        lam_parameter = spec.FUNCTIONS[self.function].parameter("lam")
        self.lam_value = checks.check_initial_value(name, lam_parameter, lam, "parameter 'lam'")
        self._lam = framework_free.layer_parameters(name, self.function, {"lam": self.lam_value})["rho"]
        self.make_scalar_weights()

    def make_weights(self, shape):
        self.rho = self._add_parameter("rho", shape, Fill(self._lam.initial_raw), self._lam.parameter)

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
