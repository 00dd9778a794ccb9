"""Shared by the deploy tests (a plain module, not a conftest): the fast-tier closeness, used
where a path may reorder float32 arithmetic (another runtime's exp/erf, fusion), and the
bitwise check for the paths that should be exact."""

from __future__ import annotations

import numpy as np

#: The fast tier evaluates float32 in float32: a path that re-implements or fuses the ops may
#: differ by a few float32 ULPs per element; through a Linear layer that is a relative 2e-5
#: of the largest magnitude in play (the same closeness tests/jax uses for x64 off).
FAST_RTOL = 2e-5


def fast_close(got, want) -> float:
    """Assert the fast-tier closeness; return the max absolute difference."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    np.testing.assert_allclose(got, want, rtol=FAST_RTOL, atol=FAST_RTOL * float(np.max(np.abs(want))))
    return float(np.max(np.abs(got - want)))


def bitwise(got, want) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
