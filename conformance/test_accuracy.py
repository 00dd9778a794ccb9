"""Values and every derivative against the oracle, in ULPs, over fixed grids and Hypothesis inputs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from . import budget, strategies
from .checks import compare


def _fail(failures: list[str]) -> None:
    if failures:
        shown = "\n".join(failures[:8])
        pytest.fail(f"{len(failures)} point(s) over the bound; the first:\n{shown}", pytrace=False)


def test_grid(impl, function, dtype):
    """Every magnitude, both signs, overflow points, critical points, every parameter edge."""
    failures = []
    for params in strategies.cases_for(impl, function, dtype):
        failures += compare(impl, function, dtype, strategies.grid(dtype, params), params)
    _fail(failures)


@pytest.mark.hypothesis_budget
def test_random(impl, function, dtype, request):
    """Hypothesis: whole finite range of the dtype (subnormals included) and random parameters."""

    @settings(**budget.settings_kwargs())
    @given(xs=strategies.inputs(dtype), params=strategies.parameters_for(impl, function, dtype))
    def check(xs, params):
        budget.count(request.node.nodeid)
        _fail(compare(impl, function, dtype, xs, params))

    check()
