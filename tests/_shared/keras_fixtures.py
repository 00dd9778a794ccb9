"""Fixtures shared by tests/keras (the Keras layers under every Keras backend) and
tests/tensorflow (the TensorFlow binding): each folder's conftest.py imports them, and pytest
registers a fixture imported into a conftest as that conftest's own.

(A plain module, not a conftest: a conftest applies only to its own folder.)
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def xs() -> np.ndarray:
    """Inputs over every regime: tails, the minima, the origin (float32, no subnormals)."""
    return np.concatenate([
        np.linspace(-12.0, 12.0, 49), [-200.0, -40.0, -1.2784645, -0.7517915, -1e-3, 0.0, 1e-3, 40.0, 200.0],
    ]).astype(np.float32)


@pytest.fixture(autouse=True)
def _float32_policy():
    """Every test starts and ends with the float32 dtype policy."""
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")
