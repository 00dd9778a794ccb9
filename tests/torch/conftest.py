"""Unit tests run the eager kernels (compiling them would cost seconds per function on a
2-core CI runner); the tests that exercise compilation turn it back on themselves."""

import pytest

from sgblend_spec.backends import torch as backend


@pytest.fixture(autouse=True)
def eager_kernels(monkeypatch):
    monkeypatch.setattr(backend, "COMPILE", False)
    yield
