"""The backend under test: ``SGBLEND_TEST_BACKEND`` (torch, tensorflow or jax), which must
import (a failure is an error, never a skip); unset, every backend that imports (a
developer's convenience). Tests take the ``backend`` fixture (an adapter, see
``adapters/__init__.py``); a test that also takes ``mode`` runs once per ``backend.modes``
(JAX: x64 on and off)."""

from __future__ import annotations

import importlib
import os

import pytest

from adapters import BACKENDS, adapter_class

_ADAPTERS: dict = {}


def _selected() -> list[str]:
    chosen = os.environ.get("SGBLEND_TEST_BACKEND", "").strip()
    if chosen:
        if chosen not in BACKENDS:
            raise pytest.UsageError(f"SGBLEND_TEST_BACKEND must be one of {', '.join(BACKENDS)}, got {chosen!r}")
        return [chosen]
    selected = []
    for name in BACKENDS:
        try:
            importlib.import_module(f"sgblend_spec.backends.{name}")
        except ImportError:
            continue
        selected.append(name)
    return selected


def pytest_generate_tests(metafunc):
    if "backend" not in metafunc.fixturenames:
        return
    names = _selected()
    if "mode" in metafunc.fixturenames:
        pairs = [(n, m) for n in names for m in adapter_class(n).modes]
        metafunc.parametrize("backend, mode", pairs, indirect=True,
                             ids=[f"{n}-{m}" if m else n for n, m in pairs], scope="function")
    else:
        metafunc.parametrize("backend", names, indirect=True, scope="function")


@pytest.fixture
def backend(request, monkeypatch):
    name = request.param
    if name not in _ADAPTERS:
        _ADAPTERS[name] = adapter_class(name)()  # imports the framework: an ImportError is an error here
    adapter = _ADAPTERS[name]
    adapter.setup(monkeypatch)
    return adapter


@pytest.fixture
def mode(request, backend):
    with backend.mode(request.param):
        yield request.param


@pytest.fixture
def float64(backend):
    """For tests with float64 arrays (JAX: x64 on)."""
    with backend.float64():
        yield
