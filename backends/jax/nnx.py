"""Flax NNX layers ``SSwish``, ``SGBlend`` and ``LambdaGELU``, on the pytree API of :mod:`.layers`.

This module imports flax; the package imports it on first access to one of the layers, so
``import sgblend_spec.backends.jax`` never imports flax. ``project(model)`` applies the layer
constraints in place after an optimizer step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from sgblend_spec import spec
from sgblend_spec import layers as shared

from .layers import apply, constraints, init_params


class _Layer(nnx.Module):
    """A spec function with trainable parameters stored as ``nnx.Param`` under their raw names."""

    function: str

    def _init(self, rngs, shape, param_dtype, values) -> None:
        key = None
        if rngs is not None and any(p.init.startswith("glorot") and values.get(p.name) is None
                                    for p in spec.trainable(self.function).values()):
            key = rngs.params()
        given = {k: v for k, v in values.items() if v is not None}
        for raw, value in init_params(self.function, key, shape=shape, dtype=param_dtype, **given).items():
            setattr(self, raw, nnx.Param(value))

    def _raw_values(self) -> dict[str, jax.Array]:
        """The trainable parameters by raw name, as arrays."""
        return {raw: getattr(self, raw)[...] for raw in spec.trainable(self.function)}

    def project(self) -> None:
        """Project the constrained parameters in place (see :func:`constraints`)."""
        for raw, value in constraints(self.function)(self._raw_values()).items():
            getattr(self, raw)[...] = value

    def __call__(self, x):
        return apply(self.function, self._raw_values(), x)


class SSwish(_Layer):
    """SSwish layer, f(x) = x·σ(βx) - γ with trainable scalars (or ``shape``) beta and gamma.

    beta defaults to the authors' U(-√3, √3) draw from ``rngs.params()`` and is kept in
    [0.1, 10] by :func:`project` after each update; gamma starts at 0, unconstrained.
    """

    function = "sswish"

    def __init__(self, *, rngs: nnx.Rngs | None = None, shape=(), beta=None, gamma=None,
                 param_dtype=jnp.float32):
        self._init(rngs, tuple(shape), param_dtype, {"beta": beta, "gamma": gamma})


class SGBlend(_Layer):
    """SG-Blend layer, σ(α)·SSwish(x; β, γ) + σ(-α)·g(x), the authors' released layer by default.

    Trainable ``alpha`` (raw, a = σ(alpha); starts at 0, kept in [-1, 1] by the authors'
    Keras MinMaxNorm), ``beta``
    (U(-√3, √3) from ``rngs.params()``, kept in [0.1, 10]) and ``gamma`` (0, free);
    :func:`project` applies the constraints after each update. ``function`` picks the
    blend partner: "sgblend" (x·σ(1.702x), default), "sgblend_gelu", "sgblend_gelu_tanh".
    """

    def __init__(self, *, rngs: nnx.Rngs | None = None, shape=(), alpha=None, beta=None, gamma=None,
                 function: str = "sgblend", param_dtype=jnp.float32):
        if function not in shared.SGBLEND_VARIANTS.values():
            raise ValueError(
                f"function must be 'sgblend', 'sgblend_gelu' or 'sgblend_gelu_tanh', got {function!r}"
            )
        self.function = function
        self._init(rngs, tuple(shape), param_dtype, {"alpha": alpha, "beta": beta, "gamma": gamma})


class LambdaGELU(_Layer):
    """λ-GELU layer, x·Φ(λx) with λ = 1 + rho² (trainable ``rho``; ``lam`` is read-only).

    rho starts at √(λ₀ - 1), λ₀ = ``lam`` or the spec default 1 + ln 2; λ ≥ 1 always
    holds, so there is nothing to project.
    """

    function = "lambda_gelu"

    def __init__(self, *, rngs: nnx.Rngs | None = None, shape=(), lam=None, param_dtype=jnp.float32):
        self._init(rngs, tuple(shape), param_dtype, {"lam": lam})

    @property
    def lam(self) -> jax.Array:
        """λ = 1 + rho² (read-only)."""
        return 1 + self.rho[...] ** 2
