"""The λ-GELU training recipe and the activation swap, bound to Keras 3 models.

The math (target, floor, projection, gradient scale, report) is :mod:`sgblend_spec.hardening`;
this module binds it to Keras models, optimizers and callbacks: :func:`register_lambda_update`,
:class:`HardeningCallback`, :func:`swap_activations`, :func:`relu_ize`.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from sgblend_spec import hardening

from .layers import LambdaGELU
from .numerics import NAMESPACE, WORKING


def _all_layers(model: keras.layers.Layer) -> list[keras.layers.Layer]:
    """``model`` and every layer inside it (nested models, layers used as activations), once each."""
    return list(model._flatten_layers(include_self=True, recursive=True))


def _lambda_layers(model: keras.layers.Layer, caller: str) -> list[LambdaGELU]:
    layers = [layer for layer in _all_layers(model) if isinstance(layer, LambdaGELU)]
    if not layers:
        raise ValueError(f"{caller}: model has no LambdaGELU layer")
    if any(not layer.built for layer in layers):
        raise ValueError(f"{caller}: build the model first (call it once, or give it an Input)")
    return layers


def register_lambda_update(optimizer: keras.optimizers.Optimizer, model: keras.layers.Layer,
                           preactivation_std: float = 1.0) -> keras.optimizers.Optimizer:
    """The λ-aware update: ``optimizer.apply`` multiplies every λ-GELU "rho" gradient of
    ``model`` by κ(λ) = ((1 + λ²s²)/(1 + s²))^(3/2) (``hardening.lam_gradient_scale``) before
    updating, which undoes the λ⁻³ attenuation of E[∂f/∂λ] for pre-activations of standard
    deviation s (see ``sgblend_spec.hardening``; under Adam it changes only the role of ε).

    Patches this optimizer instance (``model.fit`` calls ``apply``) and returns it; the
    optimizer's own clipnorm/clipvalue then see the scaled gradient. The patch is not saved
    with the model: register again after loading.
    """
    hardening.lam_gradient_scale(1.0, preactivation_std)  # checks preactivation_std
    rhos = {id(layer.rho): layer.rho for layer in _lambda_layers(model, "register_lambda_update")}
    if getattr(optimizer, "_sgblend_lambda_update", False):
        raise ValueError("register_lambda_update: this optimizer already has the λ-aware update")
    unscaled_apply = optimizer.apply

    def apply(grads, trainable_variables=None):
        variables = optimizer._trainable_variables if trainable_variables is None else list(trainable_variables)
        scaled = []
        for g, v in zip(grads, variables):
            if g is not None and id(v) in rhos:
                rho = tf.cast(tf.convert_to_tensor(v), WORKING)
                kappa = hardening.lam_gradient_scale(1 + rho * rho, preactivation_std)
                g = g * tf.cast(kappa, g.dtype)
            scaled.append(g)
        return unscaled_apply(scaled, trainable_variables)

    optimizer.apply = apply
    optimizer._sgblend_lambda_update = True
    return optimizer


class HardeningCallback(keras.callbacks.Callback):
    """The deterministic hardening schedule as a Keras callback.

    After every training batch, each λ-GELU "rho" of the model is projected onto
    1 + ρ² ≥ λ_min(step), sign kept (``hardening.project_rho``), where step is
    ``model.optimizer.iterations`` and λ_min rises from 1 at ``start_step`` to ``lam_target``
    at ``start_step + ramp_steps`` with 1/λ_min linear in the step (``hardening.lam_floor``),
    then holds. The step count lives in the optimizer, so a resumed fit continues the
    schedule. With ``steps_per_execution`` > 1 the projection runs once per execution.
    """

    def __init__(self, lam_target: float, ramp_steps: int, start_step: int = 0):
        super().__init__()
        hardening.lam_floor(0, lam_target, ramp_steps, start_step)  # checks every argument
        self.lam_target = float(lam_target)
        self.ramp_steps = int(ramp_steps)
        self.start_step = int(start_step)
        self.lam_floor = 1.0

    def on_train_begin(self, logs=None):
        self._layers = _lambda_layers(self.model, "HardeningCallback")

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        self.lam_floor = hardening.lam_floor(step, self.lam_target, self.ramp_steps, self.start_step)
        if self.lam_floor == 1.0:
            return
        for layer in self._layers:
            rho = tf.convert_to_tensor(layer.rho)
            layer.rho.assign(hardening.project_rho(NAMESPACE, rho, self.lam_floor))


def _matcher(old):
    """old (a layer class, an activation name for keras.layers.Activation, or a tuple of
    them) -> (does a layer match, does an activation function/object match)."""
    items = old if isinstance(old, tuple) else (old,)
    classes, functions = [], []
    for item in items:
        if isinstance(item, type) and issubclass(item, keras.layers.Layer):
            classes.append(item)
        elif isinstance(item, str):
            try:
                functions.append(keras.activations.get(item))
            except ValueError as error:
                raise ValueError(f"old: unknown Keras activation name {item!r}") from error
        else:
            raise TypeError(
                "old must be a Keras layer class, an activation name such as 'gelu', or a tuple of them, "
                f"got {item!r}"
            )
    if not items:
        raise TypeError("old must name at least one layer class or activation")

    def activation_matches(activation) -> bool:
        return isinstance(activation, tuple(classes)) or any(activation is f for f in functions)

    def layer_matches(layer) -> bool:
        if isinstance(layer, tuple(classes)):
            return True
        return isinstance(layer, keras.layers.Activation) and activation_matches(layer.activation)

    return layer_matches, activation_matches


def _layer_factory(new):
    if isinstance(new, keras.layers.Layer):
        return lambda replaced: new
    if isinstance(new, type) and issubclass(new, keras.layers.Layer):
        return lambda replaced: new()
    if callable(new):
        def call(replaced):
            made = new(replaced)
            if not isinstance(made, keras.layers.Layer):
                raise TypeError(f"new({type(replaced).__name__}) returned {type(made).__name__}, not a Keras layer")
            return made
        return call
    raise TypeError(
        "new must be a Keras layer instance (shared by every site), a layer class (one instance per "
        f"site) or a callable taking the replaced layer, got {new!r}"
    )


def swap_activations(model: keras.Model, old, new, *, skip_fused: bool = False) -> tuple[keras.Model, list[str]]:
    """A copy of a Sequential or functional ``model`` with every activation layer matching
    ``old`` replaced by ``new``; returns ``(new_model, sites)``, sites the replaced layers'
    names ("outer/inner" inside a nested model; a layer called at several places is one
    site and gets one replacement).

    ``old``: a layer class (``keras.layers.ReLU``, this module's ``GELU``), an activation name
    matching ``keras.layers.Activation`` layers ("gelu", "silu", "relu"; aliases resolve
    through ``keras.activations.get``), or a tuple of them. ``new``: a layer class (one new
    instance per site), a callable taking the replaced layer, or a layer instance shared by
    every site. Every other layer is the same layer object in both models, so weights are
    shared, not copied (the model is rebuilt with ``keras.models.clone_model``; a compiled
    model's compile config is carried over). Activations fused into another layer
    (``Dense(..., activation="gelu")``) cannot be swapped: they raise ValueError naming
    those layers unless ``skip_fused=True``.
    """
    layer_matches, activation_matches = _matcher(old)
    make = _layer_factory(new)
    sites: list[str] = []
    made: dict[int, keras.layers.Layer] = {}

    def rebuild(current: keras.Model, prefix: str) -> keras.Model:
        fused = [layer.name for layer in current.layers
                 if not layer_matches(layer) and not isinstance(layer, keras.Model)
                 and activation_matches(getattr(layer, "activation", None))]
        if fused and not skip_fused:
            raise ValueError(
                f"swap_activations: layer(s) {fused} apply a matching activation internally (activation=...); "
                "give them a separate activation layer, or pass skip_fused=True to leave them"
            )

        def clone_function(layer):
            if layer_matches(layer):
                sites.append(prefix + layer.name)
                if id(layer) not in made:
                    made[id(layer)] = make(layer)
                return made[id(layer)]
            if isinstance(layer, keras.Model) and any(
                    layer_matches(x) or activation_matches(getattr(x, "activation", None)) for x in _all_layers(layer)):
                return rebuild(layer, f"{prefix}{layer.name}/")
            return layer  # the same layer object: its weights are shared, not copied

        return keras.models.clone_model(current, clone_function=clone_function)

    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a Keras Sequential or functional Model, got {type(model).__name__}")
    return rebuild(model, ""), sites


def _flat(outputs) -> np.ndarray:
    return np.concatenate([np.asarray(keras.ops.convert_to_numpy(o), dtype=np.float64).ravel()
                           for o in tf.nest.flatten(outputs)])


def relu_ize(model: keras.Model, inputs) -> tuple[keras.Model, hardening.SubstitutionReport]:
    """A copy of ``model`` with every LambdaGELU layer replaced by ``keras.layers.ReLU``, and
    the measured change of its outputs on ``inputs`` (called with ``training=False``).

    Returns ``(relu_model, report)``, ``report`` a ``hardening.SubstitutionReport``: the
    replaced sites, the max/mean absolute and relative change of the outputs, and the
    per-unit bound c/λ_min (0.16997/λ_min). The other layers are shared with ``model``
    (see :func:`swap_activations`); ``model`` itself is unchanged.
    """
    lams = [np.asarray(layer.lam) for layer in _lambda_layers(model, "relu_ize")]
    before = _flat(model(inputs, training=False))
    relu_model, sites = swap_activations(model, LambdaGELU, keras.layers.ReLU)
    after = _flat(relu_model(inputs, training=False))
    return relu_model, hardening.substitution_report(sites, before, after, lams)
