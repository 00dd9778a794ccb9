"""Shared fixtures of the Keras tests, which run under every Keras backend.

``KERAS_BACKEND`` (tensorflow, jax or torch) is fixed when Keras is imported, so each backend
runs this directory in its own process (one nox session per backend). ``keras_test_support.grads``
differentiates with the active backend's own autodiff (tf.GradientTape, jax.grad, torch
autograd), so a test compares the layer with the framework binding it dispatches to.
"""

from __future__ import annotations

import importlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sgblend_spec.backends import keras as backend  # noqa: E402

from keras_test_support import FRAMEWORK  # noqa: E402


@pytest.fixture(scope="session")
def B():
    return backend


@pytest.fixture(scope="session")
def binding():
    """The framework binding the layers dispatch to (``sgblend_spec.backends.<FRAMEWORK>``)."""
    return importlib.import_module(f"sgblend_spec.backends.{FRAMEWORK}.functional")


@pytest.fixture(scope="session")
def xs() -> np.ndarray:
    """Inputs over every regime: tails, the minima, the origin."""
    return np.concatenate([
        np.linspace(-12.0, 12.0, 49), [-200.0, -40.0, -1.2784645, -0.7517915, -1e-3, 0.0, 1e-3, 40.0, 200.0],
    ]).astype(np.float32)


@pytest.fixture(autouse=True)
def _float32_policy():
    """Every test starts and ends with the float32 dtype policy."""
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")
