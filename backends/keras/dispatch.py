"""The active Keras backend's kernel: ``evaluate`` of the framework binding Keras runs on.

``keras.backend.backend()`` is fixed when Keras is imported (``KERAS_BACKEND``), so the
binding is chosen once and cached: "tensorflow" → :mod:`sgblend_spec.backends.tensorflow`,
"jax" → :mod:`sgblend_spec.backends.jax`, "torch" → :mod:`sgblend_spec.backends.torch`.
Only that framework's binding is imported. Values, gradients and precision tiers are the
binding's own (the torch autograd Function, the JAX custom_jvp functions, the TensorFlow
custom_gradient ops): a Keras layer adds nothing to the numbers.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Callable

import keras

#: The Keras backends this package runs on, each with the binding of the same name.
SUPPORTED = ("tensorflow", "jax", "torch")


def framework() -> str:
    """The active Keras backend ("tensorflow", "jax" or "torch"); any other is an error."""
    name = keras.backend.backend()
    if name not in SUPPORTED:
        raise NotImplementedError(
            f"sgblend_spec Keras layers run on the Keras backends {list(SUPPORTED)}; the active one is "
            f"{name!r} (set KERAS_BACKEND before importing keras)"
        )
    return name


#: framework -> (its binding's ``functional.evaluate``, whether it takes ``precision``).
#: A plain dict, not functools.lru_cache: torch.compile traces through a dict lookup cleanly.
_BINDINGS: dict[str, tuple[Callable, bool]] = {}


def _binding(name: str) -> tuple[Callable, bool]:
    """(the binding's ``functional.evaluate``, whether it takes ``precision``), imported once."""
    if name not in _BINDINGS:
        module = importlib.import_module(f"sgblend_spec.backends.{name}.functional")
        _BINDINGS[name] = (module.evaluate, "precision" in inspect.signature(module.evaluate).parameters)
    return _BINDINGS[name]


def evaluate(function: str, x, params: dict, precision: str):
    """Spec function ``function`` at ``x`` through the active backend's binding, in tier
    ``precision`` ("fast" or "exact", already checked by the layer).

    A binding whose ``evaluate`` has no ``precision`` argument yet evaluates its only tier.
    """
    kernel, takes_precision = _binding(framework())
    if takes_precision:
        return kernel(function, x, params, precision)
    return kernel(function, x, params)


def wide_dtype() -> str:
    """The widest float dtype of the active backend: "float64", or "float32" under JAX with
    ``jax_enable_x64`` off (where a float64 cast would silently give float32, with a warning)."""
    if framework() == "jax":
        import jax

        return "float64" if jax.config.jax_enable_x64 else "float32"
    return "float64"
