"""Trainable parameters for JAX: a pytree API for optax / Equinox users, and the projection
of the Flax NNX layers (:mod:`.nnx`) after an optimizer step.

::

    params = init_params("sgblend", key)          # {"alpha", "beta", "gamma"}, the authors' init
    y = apply("sgblend", params, x)
    params = constraints("sgblend")(optax.apply_updates(params, updates))

The layer logic (initial values, the glorot draw, λ = 1 + ρ², the projections) is
:mod:`sgblend_spec.layers`; this module binds it to dicts of ``jax.Array``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from sgblend_spec import checks, spec
from sgblend_spec import layers as shared

from .functional import DEFAULT_PRECISION, evaluate
from .numerics import NAMESPACE


def _known(name: str) -> None:
    if name not in spec.FUNCTIONS:
        raise ValueError(f"unknown spec function {name!r}; choose one of {list(spec.FUNCTIONS)}")


def init_params(
    name: str, key: jax.Array | None = None, *, shape: tuple[int, ...] = (), dtype=jnp.float32, **values: float
) -> dict[str, jax.Array]:
    """Initial trainable parameters of ``name`` as a dict pytree, each of ``shape`` and ``dtype``.

    The spec's layer initialisation: alpha = 0 (a = 1/2), beta ~ U(-√3, √3) (Keras
    glorot_uniform on the authors' shape (1,); needs ``key``), gamma = 0, and for λ-GELU
    rho = √(λ₀ - 1) with λ₀ = 1 + ln 2. ``shape=(C,)`` gives per-channel parameters (the
    spec's per_channel variant; beta is drawn per element from the same U(-√3, √3)).
    Keyword ``values`` set a parameter explicitly (``lam=`` for λ-GELU); a value outside the
    layer constraint (alpha ∈ [-1, 1], beta ∈ [0.1, 10], λ ≥ 1) raises ValueError.
    """
    _known(name)
    layer = f"init_params({name!r})"
    # Unknown names are a TypeError here; the values are checked one by one below, in the
    # parameters' order, so that the messages read "parameter 'beta' of a layer".
    start = shared.layer_parameters(layer, name, dict.fromkeys(values))
    checks.check_parameter_dtype(layer, jnp.dtype(dtype).name)
    out = {}
    for raw, lp in start.items():
        p = lp.parameter
        requested = values.get(p.name)
        if requested is not None:  # spec.INPUT_CONTRACT "layer.init"
            checked = checks.check_initial_value(name, p, requested, f"parameter '{p.name}' of a layer")
            lp = shared.LayerParameter(raw, p, checked)
        if lp.glorot:
            if key is None:
                raise ValueError(
                    f"{name}: parameter '{p.name}' is initialised from U(-√3, √3) (the authors' "
                    f"glorot_uniform); pass a PRNG key, or {p.name}=<value> for a deterministic start"
                )
            limit = shared.GLOROT_SCALAR_LIMIT
            out[raw] = jax.random.uniform(key, shape, dtype, -limit, limit)
        else:  # trained through a reparameterisation where raw != spec name (λ = 1 + rho²)
            out[raw] = jnp.full(shape, lp.initial_raw, dtype)
    return out


def to_spec(name: str, params: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    """Spec parameters of ``name`` from trainable ``params`` (λ = 1 + rho²)."""
    out = {}
    trainable = shared.layer_parameters(name, name, {})
    for raw, lp in trainable.items():
        if raw not in params:
            raise KeyError(f"{name}: params has no '{raw}'; it needs {list(trainable)}")
        value = params[raw]
        if hasattr(value, "dtype") and not (jnp.issubdtype(value.dtype, jnp.floating)):
            raise TypeError(f"{name}: parameter '{raw}' must be real floating point, got dtype {value.dtype}")
        # alpha's reparam (a = σ(alpha)) lives inside the formulas; only a raw name that
        # differs from the function's parameter (rho for lam) is mapped here.
        out[lp.parameter.name] = lp.to_spec(value)
    return out


def apply(name: str, params: Mapping[str, jax.Array], x: Any, *, precision: str = DEFAULT_PRECISION) -> jax.Array:
    """Spec function ``name`` at ``x`` with trainable ``params`` from :func:`init_params`,
    in the tier ``precision`` ("fast" or "exact", see :mod:`.functional`)."""
    _known(name)
    checks.check_precision(f"apply({name!r})", precision)
    return evaluate(name, x, to_spec(name, params), precision)


def constraints(name: str) -> Callable[[Mapping[str, jax.Array]], dict[str, jax.Array]]:
    """The projection a layer of ``name`` applies after every optimizer update.

    Returns ``project(params) -> params`` (pure, jit-able) implementing each parameter's
    spec projection: a scalar alpha gets the authors' Keras MinMaxNorm(0, 1),
    α·clip(|α|, 0, 1)/(1e-7 + |α|) (``sgblend_spec.layers.keras_min_max_norm``; not a plain clip —
    it shrinks |α| by about 1e-7 per step), a per-channel alpha is clipped to [-1, 1], and
    beta is clipped to [0.1, 10]; gamma and rho pass through. Use it after
    ``optax.apply_updates``.
    """
    _known(name)
    limited = {raw: p for raw, p in spec.trainable(name).items() if shared.projection(p, False) is not None}

    def project_params(params: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
        out = dict(params)
        for raw, p in limited.items():
            if raw not in out:
                continue
            value = jnp.asarray(out[raw])
            # size 1: the authors' scalar (MinMaxNorm for alpha); larger: per channel (a clip)
            out[raw] = shared.project(NAMESPACE, p, value, per_channel=value.size != 1).astype(value.dtype)
        return out

    project_params.__doc__ = f"Project {sorted(limited)} of {name} parameters after an update (see constraints)."
    return project_params


def project(model: Any) -> Any:
    """Apply the layer projections (see :func:`constraints`) in place to every SSwish/SGBlend
    layer inside an NNX ``model``; call it after ``optimizer.update``.
    Returns ``model``. Works inside ``nnx.jit``."""
    from flax import nnx

    from .nnx import SGBlend, SSwish

    for _, node in nnx.iter_graph(model):
        if isinstance(node, (SSwish, SGBlend)):
            node.project()
    return model


def import_parameters(name: str, parameters: Mapping[str, Any], shape: tuple[int, ...] = ()) -> dict[str, jax.Array]:
    """A parameter pytree for :func:`apply` from arrays keyed by spec name (e.g. the Keras
    layer's ``sgblend_spec.backends.tensorflow.export_parameters``), reshaped to ``shape``
    (``()`` for the authors' scalars, which Keras stores with shape (1,))."""
    expected = set(spec.trainable(name))
    if set(parameters) != expected:
        raise ValueError(f"import_parameters({name!r}): expected parameters {sorted(expected)}, got {sorted(parameters)}")
    out = {}
    for k, v in parameters.items():  # spec.INPUT_CONTRACT "layer.load"
        v = np.asarray(v)
        checks.check_loaded(f"import_parameters({name!r})", name, k, v)
        if v.size != math.prod(shape):
            raise ValueError(f"import_parameters({name!r}): parameter '{k}' has shape {v.shape}, which does not "
                             f"reshape to {tuple(shape)}")
        out[k] = jnp.asarray(v).reshape(shape)
    return out
