"""Shared fixtures for the TensorFlow backend tests (TensorFlow is imported once per session).
``xs`` and the float32 dtype policy around each test are ``tests/_shared/keras_fixtures.py``,
shared with tests/keras."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.extend({str(Path(__file__).resolve().parents[1] / "_shared")} - set(sys.path))  # tests/_shared: helpers

from keras_fixtures import _float32_policy, xs  # noqa: E402,F401  (fixtures, registered here)

from sgblend_spec.backends import tensorflow as backend  # noqa: E402


@pytest.fixture(scope="session")
def B():
    return backend
