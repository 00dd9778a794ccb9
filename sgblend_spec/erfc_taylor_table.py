"""Piecewise Taylor tables for erfc, and :func:`erfc` that evaluates them, for backends whose
own erfc is not accurate enough: XLA's (JAX) and TensorFlow's, in float64 and float32.

Measured against mpmath, XLA's erfc is up to ~9 ULP off in float64 on [0.7, 1.25] (it is
1 - erf(t) there) and up to 7 ULP in float32 on [0.5, 1]; above t = 2 both round t² before
the exponential, which costs 2t²·ε relative: ~340 ULP in float64 at t = 26 and ~60 ULP in
float32 at t = 8.5, exactly where GELU's tail is. So, per working precision:

* on [LO, HI) a Taylor polynomial about the centre c of each interval of width WIDTH,

      erfc(c + h) = Σ_n a_n h^n,  a_0 = erfc(c),  a_n = (-1)^n (2/√π) H_{n-1}(c) e^(-c²) / n!,

  with a_0 split into hi + lo so that its own rounding does not count, and |a_1 h| ≤ |a_0|/3
  on every interval, so the Horner sum adds about one rounding to a_0;
* on [TAIL_LO, tail_hi) erfc(t) = e^(-t²)·erfcx(t), with t² carried as hi + lo (an
  error-free product) and erfcx(t) = e^(t²)erfc(t), a slowly varying function (~1/(t√π)),
  from a second table whose coefficients follow from erfcx' = 2t·erfcx - 2/√π:
  (n+1)a_{n+1} = 2c·a_n + 2a_{n-1} (- 2/√π for n = 0), run at 120 digits since 2c·a_n is
  ~2c² times a_{n+1};
* elsewhere the framework's own erfc (below LO it is 1 - erf(t) without cancellation; above
  the tail tables erfc is subnormal, and GELU uses the Mills series there).

Framework-free: the coefficients come from mpmath, and a backend supplies only its gather
(:data:`RowsAt`).
"""

from __future__ import annotations

import functools
import struct
from typing import Callable, NamedTuple

import mpmath
import numpy as np

from sgblend_spec import compensated
from sgblend_spec._namespace import Array, Namespace

#: The range of the erfc tables and their interval width (exact binary fractions).
LO, HI, WIDTH = 0.25, 2.0, 0.125
#: The start of the erfcx tables and their interval width.
TAIL_LO, TAIL_WIDTH = 2.0, 0.25


class Table(NamedTuple):
    """One piecewise Taylor table: interval k covers [lo + k·width, lo + (k+1)·width), and
    rows[k] = (centre, low part of a_0, a_0 ... a_degree), in the working precision."""

    lo: float
    hi: float
    width: float
    degree: int
    rows: list


def _working(value, double: bool) -> float:
    return float(value) if double else struct.unpack("f", struct.pack("f", float(value)))[0]


def _table(lo: float, hi: float, width: float, degree: int, coefficients_at, double: bool) -> Table:
    rows = []
    with mpmath.workdps(120):
        for centre in lo + width * (np.arange(round((hi - lo) / width)) + 0.5):
            a = coefficients_at(mpmath.mpf(centre), degree)
            head = _working(a[0], double)
            rows.append([float(centre), _working(a[0] - mpmath.mpf(head), double), head,
                         *(_working(v, double) for v in a[1:])])
    return Table(lo, hi, width, degree, rows)


def _erfc_coefficients(c, degree: int) -> list:
    scale = 2 / mpmath.sqrt(mpmath.pi) * mpmath.exp(-c * c)
    return [mpmath.erfc(c)] + [(-1) ** n * scale * mpmath.hermite(n - 1, c) / mpmath.factorial(n)
                               for n in range(1, degree + 1)]


def _erfcx_coefficients(c, degree: int) -> list:
    a = [mpmath.erfc(c) * mpmath.exp(c * c)]
    a.append(2 * c * a[0] - 2 / mpmath.sqrt(mpmath.pi))
    for n in range(1, degree):
        a.append((2 * c * a[n] + 2 * a[n - 1]) / (n + 1))
    return a


@functools.cache  # mpmath, ~0.5 s: computed on first use, not at import
def erfc_table(double: bool = True) -> Table:
    """erfc on [LO, HI); degree 13 (float64) or 7 (float32): the first omitted term is
    below 2^-60 (2^-30) of erfc on every interval."""
    return _table(LO, HI, WIDTH, 13 if double else 7, _erfc_coefficients, double)


@functools.cache
def erfcx_table(double: bool = True) -> Table:
    """erfcx on [TAIL_LO, 27) in float64 (erfc is subnormal beyond) or [TAIL_LO, 9) in float32;
    degree 12 or 7."""
    return _table(TAIL_LO, 27.0 if double else 9.0, TAIL_WIDTH, 12 if double else 7, _erfcx_coefficients, double)


#: A backend's gather: (table) -> (t -> each element's row of the table, t's shape +
#: (columns,)), the row of the interval that holds t, clamped to the table's ends.
RowsAt = Callable[[Table, Array], Array]


def _horner(table: Table, row: Array, t: Array) -> Array:
    """Σ a_n h^n, h = t - centre, a_0 with its low part added last."""
    h = t - row[..., 0]
    p = row[..., -1]
    for n in range(table.degree - 1, 0, -1):
        p = p * h + row[..., 2 + n]
    return row[..., 2] + (row[..., 1] + p * h)


def erfc(xp: Namespace, t: Array, fallback: Callable[[Array], Array], rows_at: RowsAt) -> Array:
    """erfc(t) within ~2 ULP of t's dtype (float64 or float32) on [LO, tail_hi): the erfc
    table on [LO, HI), the erfcx table times a compensated e^(-t²) on [TAIL_LO, tail_hi), and
    ``fallback`` (the framework's erfc) elsewhere."""
    double = xp.is_double(t)
    near, far = erfc_table(double), erfcx_table(double)
    square, square_lo = compensated.product(xp, t, t)
    erfcx = _horner(far, rows_at(far, t), t)
    # e^(-t²)·(erfcx - erfcx·t²_lo): the correction is applied to erfcx (~0.02 at t = 27), where
    # it stays normal, not to e^(-t²), where a flush-to-zero kernel would drop it
    tail = xp.exp(-square) * (erfcx - erfcx * square_lo)
    out = xp.where((t >= far.lo) & (t < far.hi), tail, fallback(t))
    return xp.where((t >= near.lo) & (t < near.hi), _horner(near, rows_at(near, t), t), out)
