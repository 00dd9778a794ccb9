"""The λ-GELU training recipe and the activation swap, bound to Keras 3 models on every backend.

The math (target, floor, projection, gradient scale, report) is :mod:`sgblend_spec.hardening`;
this module binds it to Keras models, optimizers and callbacks with ``keras.ops`` only:
:func:`register_lambda_update`, :class:`HardeningCallback`, :func:`swap_activations`,
:func:`replace_lambda_gelu_with_relu` (formerly ``relu_ize``).
"""

from __future__ import annotations

import keras
import numpy as np

from sgblend_spec import activation_names, hardening
from sgblend_spec.activation_names import Sites

from . import dispatch
from .base import ActivationLayer
from .layers import LambdaGELU


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
                rho = keras.ops.cast(keras.ops.convert_to_tensor(v), dispatch.wide_dtype())
                kappa = hardening.lam_gradient_scale(1 + rho * rho, preactivation_std)
                g = g * keras.ops.cast(kappa, g.dtype)
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
    Under JAX, reading ``self.model`` after each batch writes the trained state back to the
    variables first (Keras' ``jax_state_sync``), so the projection is what the next step sees.
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
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        self.lam_floor = hardening.lam_floor(step, self.lam_target, self.ramp_steps, self.start_step)
        if self.lam_floor == 1.0:
            return
        for layer in self._layers:
            rho = keras.ops.convert_to_tensor(layer.rho)
            layer.rho.assign(hardening.project_rho(keras.ops, rho, self.lam_floor))


def _function_name(function) -> str:
    """A Keras activation function's name ("gelu", "silu"; swish is the same function)."""
    return getattr(function, "__name__", type(function).__name__)


def _matcher(old):
    """old (a layer class, an activation name, or a tuple of them) -> match(obj): the label of
    the matched entry ("gelu", "silu", a function or class name) for a layer or activation
    object, or None. The names of :data:`sgblend_spec.activation_names.KERAS_FUNCTIONS`
    ("gelu", "silu") match every Keras spelling of that activation (silu is swish)."""
    items = old if isinstance(old, tuple) else (old,)
    if not items:
        raise TypeError("old must name at least one layer class or activation")
    classes, functions = [], []  # (class, label), (function, label)
    for item in items:
        if isinstance(item, type) and issubclass(item, keras.layers.Layer):
            classes.append((item, item.__name__))
        elif isinstance(item, str):
            spellings = activation_names.KERAS_FUNCTIONS.get(item, (item,))
            try:
                functions += [(keras.activations.get(name), item) for name in spellings]
            except ValueError as error:
                raise ValueError(f"old: unknown Keras activation name {item!r}") from error
        else:
            raise TypeError(
                "old must be a Keras layer class, an activation name such as 'gelu', or a tuple of them, "
                f"got {item!r}"
            )

    def match(obj):
        for cls, label in classes:
            if isinstance(obj, cls):
                return label
        if isinstance(obj, keras.layers.Activation):
            obj = obj.activation
        return next((label for function, label in functions if obj is function), None)

    return match


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


def _fused(layer):
    """The activation a layer applies internally (``Dense(..., activation=...)``), or None."""
    if isinstance(layer, (keras.layers.Activation, keras.Model)):
        return None
    activation = getattr(layer, "activation", None)
    return None if activation is None or activation is keras.activations.linear else activation


def _describe(layer) -> str | None:
    """How an activation site of the model reads in an error ("Activation('gelu')",
    "Dense(activation='relu')", "ReLU"), or None for a layer without one."""
    if isinstance(layer, keras.layers.Activation):
        return f"Activation({_function_name(layer.activation)!r})"
    fused = _fused(layer)
    if fused is not None:
        inner = type(fused).__name__ if isinstance(fused, keras.layers.Layer) else repr(_function_name(fused))
        return f"{type(layer).__name__}(activation={inner})"
    module = type(layer).__module__
    if isinstance(layer, ActivationLayer) or module.startswith("keras.src.layers.activations"):
        return type(layer).__name__
    return None


def _refused(layer, activation) -> keras.layers.Layer:
    """A copy of ``layer`` (Dense, Conv, EinsumDense …) with ``activation`` fused in its place,
    built like ``layer`` and holding copies of its weights (a layer's activation is part of its
    config, so the layer itself cannot be shared)."""
    copy = type(layer).from_config({**layer.get_config(), "activation": activation})
    if layer.built:
        copy.build_from_config(layer.get_build_config())
        own = {id(v) for v in getattr(activation, "weights", [])}
        mine = [v for v in copy.weights if id(v) not in own]
        theirs = [v for v in layer.weights if id(v) not in {id(w) for w in getattr(_fused(layer), "weights", [])}]
        if [v.path.split("/")[-1] for v in mine] != [v.path.split("/")[-1] for v in theirs]:
            raise ValueError(f"swap_activations: cannot copy the weights of {layer.name!r} into its copy")
        for target, source in zip(mine, theirs):
            target.assign(source)
    return copy


def swap_activations(model: keras.Model, old, new, *, skip_fused: bool = False) -> tuple[keras.Model, Sites]:
    """A copy of a Sequential or functional ``model`` with every activation matching ``old``
    replaced by ``new``; returns ``(new_model, sites)``, sites the replaced layers' names
    ("outer/inner" inside a nested model; a layer called at several places is one site and
    gets one replacement) with ``sites.replaced`` = {site: the activation it had}.

    ``old``: a layer class (``keras.layers.ReLU``, this module's ``GELU``), an activation
    name, or a tuple of them. ``"gelu"`` and ``"silu"`` match every Keras spelling of that
    activation (:data:`sgblend_spec.activation_names.KERAS_FUNCTIONS`: silu is swish);
    other names resolve through ``keras.activations.get`` ("relu", "tanh"). A name matches
    ``keras.layers.Activation`` layers and activations fused into another layer
    (``Dense(..., activation="gelu")``, Conv, EinsumDense); a fused site is a copy of that
    layer with ``new`` as its ``activation`` and copies of its weights (``skip_fused=True``
    leaves fused activations alone). ``new``: a layer class (one new instance per site), a
    callable taking the replaced layer, or a layer instance shared by every site. Every other
    layer is the same layer object in both models, so weights are shared, not copied (the
    model is rebuilt with ``keras.models.clone_model``; a compiled model's compile config is
    carried over). Nothing matching is a ValueError listing the activations the model has.
    """
    match = _matcher(old)
    make = _layer_factory(new)
    sites = Sites()
    made: dict[int, keras.layers.Layer] = {}

    def matches_inside(layer) -> bool:
        return any(match(x) or (not skip_fused and match(_fused(x))) for x in _all_layers(layer))

    def rebuild(current: keras.Model, prefix: str) -> keras.Model:
        def clone_function(layer):
            if id(layer) in made:
                return made[id(layer)]
            label = match(layer) if not isinstance(layer, keras.Model) else None
            fused = None if label or skip_fused else match(_fused(layer))
            if label:
                made[id(layer)] = make(layer)
            elif fused:
                made[id(layer)] = _refused(layer, make(layer))
            elif isinstance(layer, keras.Model) and matches_inside(layer):
                return rebuild(layer, f"{prefix}{layer.name}/")
            else:
                return layer  # the same layer object: its weights are shared, not copied
            sites.add(prefix + layer.name, label or fused)
            return made[id(layer)]

        return keras.models.clone_model(current, clone_function=clone_function)

    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a Keras Sequential or functional Model, got {type(model).__name__}")
    if not matches_inside(model):
        found = sorted({d for d in map(_describe, _all_layers(model)) if d})
        raise ValueError(f"swap_activations: nothing in the model matches old={old!r}; its activations are: "
                         f"{', '.join(found) or 'none'}")
    return rebuild(model, ""), sites


def _flat(outputs) -> np.ndarray:
    return np.concatenate([np.asarray(keras.ops.convert_to_numpy(o), dtype=np.float64).ravel()
                           for o in keras.tree.flatten(outputs)])


def replace_lambda_gelu_with_relu(model: keras.Model, inputs) -> tuple[keras.Model, hardening.SubstitutionReport]:
    """A copy of ``model`` with every LambdaGELU layer replaced by ``keras.layers.ReLU``, and
    the measured change of its outputs on ``inputs`` (called with ``training=False``).

    Returns ``(relu_model, report)``, ``report`` a ``hardening.SubstitutionReport``: the
    replaced sites, the max/mean absolute and relative change of the outputs, and the
    per-unit bound c/λ_min (0.16997/λ_min). The other layers are shared with ``model``
    (see :func:`swap_activations`); ``model`` itself is unchanged.
    """
    lams = [keras.ops.convert_to_numpy(layer.lam) for layer in _lambda_layers(model, "replace_lambda_gelu_with_relu")]
    before = _flat(model(inputs, training=False))
    relu_model, sites = swap_activations(model, LambdaGELU, keras.layers.ReLU)
    after = _flat(relu_model(inputs, training=False))
    return relu_model, hardening.substitution_report(sites, before, after, lams)


#: The former name of :func:`replace_lambda_gelu_with_relu` (the same function).
relu_ize = replace_lambda_gelu_with_relu
