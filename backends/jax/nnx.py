"""Flax NNX layers ``SSwish``, ``SGBlend`` and ``LambdaGELU``, on the pytree API of :mod:`.layers`.

This module imports flax; the package imports it on first access to one of the layers, so
``import sgblend_spec.backends.jax`` never imports flax. ``project(model)`` applies the layer
constraints in place after an optimizer step. Each layer takes ``precision=`` ("fast", the
default, or "exact") and keeps it as its ``precision`` attribute (static: a string).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import nnx

from sgblend_spec import checks, spec
from sgblend_spec.activation_names import JAX_FUNCTIONS, Sites
from sgblend_spec import layers as shared

from .functional import DEFAULT_PRECISION
from .layers import apply, constraints, init_params


class _Layer(nnx.Module):
    """A spec function with trainable parameters stored as ``nnx.Param`` under their raw names."""

    function: str
    precision: str = DEFAULT_PRECISION

    def _init(self, rngs, shape, param_dtype, values, precision: str = DEFAULT_PRECISION) -> None:
        self.precision = checks.check_precision(type(self).__name__, precision)
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
        return apply(self.function, self._raw_values(), x, precision=self.precision)


class SSwish(_Layer):
    """SSwish layer, f(x) = x·σ(βx) - γ with trainable scalars (or ``shape``) beta and gamma.

    beta defaults to the authors' U(-√3, √3) draw from ``rngs.params()`` and is kept in
    [0.1, 10] by :func:`project` after each update; gamma starts at 0, unconstrained.
    """

    function = "sswish"

    def __init__(self, *, rngs: nnx.Rngs | None = None, shape=(), beta=None, gamma=None,
                 param_dtype=jnp.float32, precision: str = DEFAULT_PRECISION):
        self._init(rngs, tuple(shape), param_dtype, {"beta": beta, "gamma": gamma}, precision)


class SGBlend(_Layer):
    """SG-Blend layer, σ(α)·SSwish(x; β, γ) + σ(-α)·g(x), the authors' released layer by default.

    Trainable ``alpha`` (raw, a = σ(alpha); starts at 0, kept in [-1, 1] by the authors'
    Keras MinMaxNorm), ``beta``
    (U(-√3, √3) from ``rngs.params()``, kept in [0.1, 10]) and ``gamma`` (0, free);
    :func:`project` applies the constraints after each update. ``function`` picks the
    blend partner: "sgblend" (x·σ(1.702x), default), "sgblend_gelu", "sgblend_gelu_tanh".
    """

    def __init__(self, *, rngs: nnx.Rngs | None = None, shape=(), alpha=None, beta=None, gamma=None,
                 function: str = "sgblend", param_dtype=jnp.float32, precision: str = DEFAULT_PRECISION):
        if function not in shared.SGBLEND_VARIANTS.values():
            raise ValueError(
                f"function must be 'sgblend', 'sgblend_gelu' or 'sgblend_gelu_tanh', got {function!r}"
            )
        self.function = function
        self._init(rngs, tuple(shape), param_dtype, {"alpha": alpha, "beta": beta, "gamma": gamma}, precision)


class LambdaGELU(_Layer):
    """λ-GELU layer, x·Φ(λx) with λ = 1 + rho² (trainable ``rho``; ``lam`` is read-only).

    rho starts at √(λ₀ - 1), λ₀ = ``lam`` or the spec default 1 + ln 2; λ ≥ 1 always
    holds, so there is nothing to project.
    """

    function = "lambda_gelu"

    def __init__(self, *, rngs: nnx.Rngs | None = None, shape=(), lam=None, param_dtype=jnp.float32,
                 precision: str = DEFAULT_PRECISION):
        self._init(rngs, tuple(shape), param_dtype, {"lam": lam}, precision)

    @property
    def lam(self) -> jax.Array:
        """λ = 1 + rho² (read-only)."""
        return 1 + self.rho[...] ** 2


# ----------------------------------------------------------------------------- activation swap
#: name -> the JAX activation functions of that name (flax.nnx.gelu is jax.nn.gelu, silu is swish).
FUNCTIONS = {name: tuple(getattr(jax.nn, f) for f in spellings) for name, spellings in JAX_FUNCTIONS.items()}


def _matcher(old):
    items = old if isinstance(old, tuple) else (old,)
    if not items:
        raise TypeError("old must name at least one activation")
    functions, classes = [], []
    for item in items:
        if isinstance(item, str):
            if item not in FUNCTIONS:
                raise ValueError(f"swap_activations: old must be 'gelu', 'silu', a function or an nnx.Module "
                                 f"class, got {item!r}")
            functions += [(f, item) for f in FUNCTIONS[item]]
        elif isinstance(item, type) and issubclass(item, nnx.Module):
            classes.append((item, item.__name__))
        elif callable(item):
            functions.append((item, getattr(item, "__name__", repr(item))))
        else:
            raise TypeError(f"old must be 'gelu', 'silu', a function, an nnx.Module class or a tuple of them, "
                            f"got {item!r}")

    def match(value):
        for cls, label in classes:
            if isinstance(value, cls):
                return label
        target = value.func if isinstance(value, functools.partial) else value  # partial(jax.nn.gelu, approximate=False)
        return next((label for function, label in functions if target is function), None)

    return match


def _activation_name(value) -> str | None:
    """The name of a jax.nn activation function (flax.nnx re-exports them) or of one of this
    module's layers, for the no-match error; None for anything else."""
    target = value.func if isinstance(value, functools.partial) else value
    if isinstance(target, _Layer):
        return type(target).__name__
    if callable(target) and any(target is f for f in vars(jax.nn).values()):
        return target.__name__
    return None


def swap_activations(model: nnx.Module, old, new, *, rngs: nnx.Rngs | None = None) -> Sites:
    """Replace, in place, every activation of the NNX ``model`` that matches ``old`` by a module
    from ``new``; returns the :class:`Sites` replaced.

    NNX models hold their activations as attributes (``self.act = nnx.gelu``, or a function in
    ``nnx.Sequential(..., jax.nn.gelu, ...)``): those attributes, in the model and every
    submodule, list and dict, are what is swapped, and a model then calls the new module where
    it called the function. A function called inline in ``__call__`` (``x = nnx.gelu(x)``) is
    not an attribute and cannot be reached: store it as one (``self.act = nnx.gelu``; call
    ``self.act(x)``) to make it swappable — the pattern this helper expects.

    ``old``: "gelu" (``jax.nn.gelu`` = ``nnx.gelu``, exact or tanh, also as a
    ``functools.partial``), "silu" (``jax.nn.silu`` = ``swish``), a function, an
    ``nnx.Module`` class, or a tuple of them. ``new``: a module class, made per site as
    ``new(rngs=rngs)`` (``rngs`` default ``nnx.Rngs(0)``; e.g. :class:`SGBlend`), a callable
    taking the replaced value and returning a module, or a module instance shared by every
    site. A matching module instance found at several places gets one replacement. Nothing
    matching is a ValueError listing the activation functions the model holds.
    """
    match = _matcher(old)
    if isinstance(new, nnx.Module):
        make = lambda replaced: new  # noqa: E731
    elif isinstance(new, type) and issubclass(new, nnx.Module):
        rngs = nnx.Rngs(0) if rngs is None else rngs
        make = lambda replaced: new(rngs=rngs)  # noqa: E731
    elif callable(new):
        make = new
    else:
        raise TypeError(f"new must be an nnx.Module class, instance or a callable returning one, got {new!r}")
    sites, found, made, seen = Sites(), set(), {}, set()

    def replace(value, path):
        label = match(value)
        if label is None:
            if _activation_name(value):
                found.add(_activation_name(value))
            walk(value, path)
            return value
        if id(value) not in made or not isinstance(value, nnx.Module):
            made[id(value)] = make(value)
        sites.add(path, label)
        return made[id(value)]

    def walk(node, path):
        if id(node) in seen:
            return
        if isinstance(node, nnx.Module):
            seen.add(id(node))
            for key, value in list(vars(node).items()):
                if not key.startswith("_"):
                    swapped = replace(value, f"{path}/{key}".lstrip("/"))
                    if swapped is not value:
                        # a function attribute is static; the module replacing it is data
                        setattr(node, key, nnx.data(swapped) if hasattr(nnx, "data") else swapped)
        elif isinstance(node, (list, nnx.List)):
            seen.add(id(node))
            for i, value in enumerate(list(node)):
                swapped = replace(value, f"{path}/{i}")
                if swapped is not value:
                    node[i] = swapped
        elif isinstance(node, dict):
            seen.add(id(node))
            for key, value in list(node.items()):
                swapped = replace(value, f"{path}/{key}")
                if swapped is not value:
                    node[key] = swapped

    if not isinstance(model, nnx.Module):
        raise TypeError(f"model must be an nnx.Module, got {type(model).__name__}")
    walk(model, "")
    if not sites:
        wanted = [i if isinstance(i, str) else getattr(i, "__name__", repr(i))
                  for i in (old if isinstance(old, tuple) else (old,))]
        raise ValueError(f"swap_activations: nothing in the model matches {wanted}; its activation functions "
                         f"are: {', '.join(sorted(found)) or 'none'}")
    return sites
