"""Shared fixtures for the JAX backend tests."""

from __future__ import annotations

import pytest

import jax  # a missing JAX fails these tests, never skips them


@pytest.fixture(params=[True, False], ids=["x64", "x32"])
def x64(request):
    """Run the test with jax_enable_x64 on and off (the context restores the setting)."""
    with jax.enable_x64(request.param):
        yield request.param


@pytest.fixture
def with_x64():
    with jax.enable_x64(True):
        yield
