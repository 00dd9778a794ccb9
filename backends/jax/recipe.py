"""The λ-GELU training recipe for JAX: hardening schedule, λ-aware gradient scale, optax transform.

The math (target, floor, projection, gradient scale) is :mod:`sgblend_spec.hardening`; this
module binds it to parameter pytrees, optax and NNX. (Activation swapping and ReLU
substitution are module surgery, which a pytree of parameters does not have: pass
jax.nn.relu to your forward function instead; hardening.relu_gap gives the per-unit bound.)
"""

from __future__ import annotations

import sys
from typing import Any

import jax

from sgblend_spec import hardening

from .numerics import NAMESPACE


def _is_rho(path) -> bool:
    """Whether a pytree path ends in a "rho" entry (dict key or attribute)."""
    last = path[-1] if path else None
    return getattr(last, "key", getattr(last, "name", None)) == "rho"


def harden(params: Any, step: int, lam_target: float, ramp_steps: int, start_step: int = 0) -> Any:
    """The hardening schedule after optimizer step ``step`` (a Python int, outside ``jit``).

    Every "rho" leaf is projected onto 1 + ρ² ≥ λ_min(step), sign kept
    (``hardening.project_rho``); λ_min rises from 1 at ``start_step`` to ``lam_target`` at
    ``start_step + ramp_steps`` with 1/λ_min linear in the step (``hardening.lam_floor``),
    then holds. ``params``: a pytree (e.g. holding :func:`init_params` dicts), returned as a
    new pytree; or an NNX model, whose LambdaGELU layers are projected in place (returned).
    """
    floor = hardening.lam_floor(step, lam_target, ramp_steps, start_step)
    if "flax" in sys.modules:  # an NNX model is possible only once flax is imported
        from flax import nnx

        if isinstance(params, nnx.Module):
            from .nnx import LambdaGELU

            for _, node in nnx.iter_graph(params):
                if isinstance(node, LambdaGELU) and floor > 1.0:
                    node.rho[...] = hardening.project_rho(NAMESPACE, node.rho[...], floor)
            return params
    if floor == 1.0:
        return params
    return jax.tree_util.tree_map_with_path(
        lambda path, leaf: hardening.project_rho(NAMESPACE, leaf, floor) if _is_rho(path) else leaf, params
    )


def scale_lambda_gradients(grads: Any, params: Any, preactivation_std: float = 1.0) -> Any:
    """The λ-aware update: every "rho" leaf of ``grads`` times κ(λ) = ((1 + λ²s²)/(1 + s²))^(3/2),
    λ = 1 + ρ² from the matching leaf of ``params`` (``hardening.lam_gradient_scale``); the
    other leaves unchanged. Pure and jit-able."""
    hardening.lam_gradient_scale(1.0, preactivation_std)  # checks preactivation_std

    def scale(path, g, p):
        if not _is_rho(path):
            return g
        return g * hardening.lam_gradient_scale(1 + p * p, preactivation_std).astype(g.dtype)

    return jax.tree_util.tree_map_with_path(scale, grads, params)


def lambda_update(preactivation_std: float = 1.0):
    """:func:`scale_lambda_gradients` as an optax ``GradientTransformation``; chain it before
    the optimizer, ``optax.chain(lambda_update(), optax.sgd(lr))``. Its ``update`` needs
    ``params``. Under Adam-type optimizers κ cancels except against ε (see
    ``sgblend_spec.hardening``)."""
    import optax

    hardening.lam_gradient_scale(1.0, preactivation_std)

    def init(params):
        return optax.EmptyState()

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("lambda_update: update() needs params (λ = 1 + rho² is read from them)")
        return scale_lambda_gradients(updates, params, preactivation_std), state

    return optax.GradientTransformation(init, update)
