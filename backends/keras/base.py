"""What every Keras layer of this binding shares: :class:`ActivationLayer` (elementwise,
shape-preserving, maskable; the dtype-policy check and the precision tier, kept in the
config) and :class:`ParametricLayer` (trainable scalar or per-channel weights, made at
construction when scalar; β and γ of SSwish and the SG-Blends; each weight checked on
loading, spec.INPUT_CONTRACT "layer.load"; a per-channel layer saved before it was built
keeps the seed of its random β). The layers themselves are :mod:`.layers`.
"""

from __future__ import annotations

import random

import keras
import numpy as np

from sgblend_spec import checks, spec

from . import dispatch
from .weights import ExactConstant, constraint, initial_beta


class ActivationLayer(keras.layers.Layer):
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


class ParametricLayer(ActivationLayer):
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

    def _init_beta_gamma(self, beta, gamma, beta_initializer) -> None:
        """β's initializer and config value (:func:`.weights.initial_beta`, seeded when
        per-channel) and γ's checked initial value: SSwish and the SG-Blends alike."""
        name = type(self).__name__
        initializer, self.beta_value = initial_beta(name, self.function, beta, beta_initializer)
        self._beta_init = self.seeded(initializer)
        gamma_parameter = spec.FUNCTIONS[self.function].parameter("gamma")
        self.gamma_value = checks.check_initial_value(name, gamma_parameter, gamma, "parameter 'gamma'")

    def _make_beta_gamma(self, shape) -> None:
        """The weights "beta" and "gamma" of ``shape`` (after :meth:`_init_beta_gamma`)."""
        record = spec.FUNCTIONS[self.function]
        self.beta = self._add_parameter("beta", shape, self._beta_init, record.parameter("beta"))
        self.gamma = self._add_parameter("gamma", shape, ExactConstant(self.gamma_value), record.parameter("gamma"))

    def _beta_gamma_config(self) -> dict:
        """β and γ in the config: their values, or β's initializer when β is drawn."""
        drawn = self.beta_value is None
        return {"beta": self.beta_value, "gamma": self.gamma_value,
                "beta_initializer": keras.initializers.serialize(self._beta_init) if drawn else None}

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
