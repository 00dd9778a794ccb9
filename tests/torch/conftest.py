"""Unit tests run the eager kernels (compiling them would cost seconds per function on a
2-core CI runner); the tests that exercise compilation turn it back on themselves, with
torch.compile in each process (test_prebuilt.py checks the prebuilt libraries, which give the
same bits, and the compensation contract test runs them)."""

import pytest

from sgblend_spec.backends import torch as backend


@pytest.fixture(autouse=True)
def eager_kernels(monkeypatch):
    monkeypatch.setattr(backend, "COMPILE", False)
    monkeypatch.setattr(backend, "PREBUILT", False)
    yield
