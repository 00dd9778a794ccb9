"""Issue #16: every compiler a backend runs under keeps the compensated arguments' low parts.

XLA contracts a·b + c into one FMA, XLA and Grappler reassociate arithmetic with literal
constants, and TensorFlow's and XLA's CPU kernels flush subnormal intermediates; each once
undid a compensation (tests/core/compensation_points.py lists the points and what they lost).
"""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

_PATH = pathlib.Path(__file__).parents[1] / "core" / "compensation_points.py"
_SPEC = importlib.util.spec_from_file_location("compensation_points", _PATH)
points = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(points)


TIERS = [("float32", "fast"), ("float64", "exact")]


@pytest.mark.parametrize("dtype, precision, function", [
    (dtype, precision, function) for dtype, precision in TIERS
    for function in dict.fromkeys(point[0] for point in points.points_for(dtype))])
def test_every_compiler_keeps_the_low_part(backend, dtype, precision, function):
    """One function per test: each compiles its own kernels (torch's float64 ones take
    minutes with a cold cache), which pytest-xdist spreads over the workers."""
    with backend.float64():
        for compiler in backend.compilers:
            def evaluate(function, quantity, x, params, compiler=compiler):
                return backend.compiled(compiler, function, quantity, x, params, precision)

            try:
                points.check_low_part_survives(evaluate, precision, dtype, functions={function})
            except AssertionError as failure:
                raise AssertionError(f"under {compiler}: {failure}") from None
