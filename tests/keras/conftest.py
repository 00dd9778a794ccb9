"""Shared fixtures of the Keras tests, which run under every Keras backend.

``KERAS_BACKEND`` (tensorflow, jax or torch) is fixed when Keras is imported, so each backend
runs this directory in its own process (one nox session per backend). ``keras_test_support.grads``
differentiates with the active backend's own autodiff (tf.GradientTape, jax.grad, torch
autograd), so a test compares the layer with the framework binding it dispatches to. ``xs``
and the float32 dtype policy around each test are ``tests/_shared/keras_fixtures.py``, which
tests/tensorflow shares.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

sys.path.extend({str(Path(__file__).resolve().parents[1] / "_shared")} - set(sys.path))  # tests/_shared: helpers

from keras_fixtures import _float32_policy, xs  # noqa: E402,F401  (fixtures, registered here)

from sgblend_spec.backends import keras as backend  # noqa: E402

from keras_test_support import FRAMEWORK  # noqa: E402


@pytest.fixture(scope="session")
def B():
    return backend


@pytest.fixture(scope="session")
def binding():
    """The framework binding the layers dispatch to (``sgblend_spec.backends.<FRAMEWORK>``)."""
    return importlib.import_module(f"sgblend_spec.backends.{FRAMEWORK}.functional")
