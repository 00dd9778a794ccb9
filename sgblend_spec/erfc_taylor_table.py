"""Piecewise Taylor tables for erfc, for backends whose own erfc is not accurate enough.

XLA's float64 erfc (``jax.scipy.special.erfc``) computes 1 - erf(t) below t = 1 and is up
to ~9 ULP off for t in [0.7, 1.25] (measured against mpmath); there the input sensitivity
of x·Φ(x) is small, so that error reaches GELU's value (4.6 ULP at x = -1.2938, found by
``nox -s fuzz``). On [LO, HI) a Taylor polynomial about the centre of each interval of
width WIDTH replaces it:

    erfc(c + h) = Σ_n a_n h^n,  a_0 = erfc(c),  a_n = (-1)^n (2/√π) H_{n-1}(c) e^(-c²) / n!,

with a_0 split into a double-float (hi, lo) so that its own rounding does not count, and
|a_1 h| ≤ |a_0|/3 on every interval, so the Horner sum adds about one rounding to a_0.
Framework-free; the coefficients come from mpmath.
"""

from __future__ import annotations

import functools

import mpmath
import numpy as np

#: The range covered, and the width of each interval (exact binary fractions).
LO, HI, WIDTH = 0.25, 2.0, 0.125
#: Polynomial degree: the first omitted term is below 2^-60 of erfc on every interval.
DEGREE = 13


@functools.cache  # ~0.4 s of mpmath: computed on first use, not at import
def taylor_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centres, a_0 low parts, coefficients[interval, n]) with coefficients[:, 0] = a_0's
    high part, all float64."""
    n_intervals = round((HI - LO) / WIDTH)
    centres = LO + WIDTH * (np.arange(n_intervals) + 0.5)
    coefficients = np.empty((n_intervals, DEGREE + 1))
    low = np.empty(n_intervals)
    with mpmath.workdps(40):
        scale = 2 / mpmath.sqrt(mpmath.pi)
        for i, c in enumerate(centres):
            c = mpmath.mpf(c)
            a = [mpmath.erfc(c)] + [
                (-1) ** n * scale * mpmath.hermite(n - 1, c) * mpmath.exp(-c * c) / mpmath.factorial(n)
                for n in range(1, DEGREE + 1)
            ]
            coefficients[i] = [float(v) for v in a]
            low[i] = float(a[0] - mpmath.mpf(coefficients[i, 0]))
    return centres, low, coefficients
