"""An accurate erfc for backends whose own is not accurate enough, XLA's (JAX) and
TensorFlow's: piecewise Taylor tables in float64 (:func:`erfc`), and in float32 four
polynomials of erfcx picked by selects (:func:`erfc_float32`).

Measured against mpmath, XLA's erfc is up to ~9 ULP off in float64 on [0.7, 1.25] (it is
1 - erf(t) there) and up to 7 ULP in float32 on [0.5, 1]; above t = 2 both round t² before
the exponential, which costs 2t²·ε relative: ~340 ULP in float64 at t = 26 and ~60 ULP in
float32 at t = 8.5, exactly where GELU's tail is. So, in float64:

* on [LO, HI) a Taylor polynomial about the centre c of each interval of width WIDTH,

      erfc(c + h) = Σ_n a_n h^n,  a_0 = erfc(c),  a_n = (-1)^n (2/√π) H_{n-1}(c) e^(-c²) / n!,

  with a_0 split into hi + lo so that its own rounding does not count, and |a_1 h| ≤ |a_0|/3
  on every interval, so the Horner sum adds about one rounding to a_0;
* on [TAIL_LO, 27) erfc(t) = e^(-t²)·erfcx(t), with t² carried as hi + lo (an error-free
  product) and erfcx(t) = e^(t²)erfc(t), a slowly varying function (~1/(t√π)), from a
  second table whose coefficients follow from erfcx' = 2t·erfcx - 2/√π:
  (n+1)a_{n+1} = 2c·a_n + 2a_{n-1} (- 2/√π for n = 0), run at 120 digits since 2c·a_n is
  ~2c² times a_{n+1};
* elsewhere the framework's own erfc (below LO it is 1 - erf(t) without cancellation; above
  the tail table erfc is subnormal, and GELU uses the Mills series there).

In float32, e^(-t²)·erfcx(t) on all of [0, 9) (:data:`ERFCX_FLOAT32`): a table lookup is a
gather per element, which XLA:CPU makes slower than the whole activation.

Framework-free: the coefficients come from mpmath, and a backend supplies only its gather
(:data:`RowsAt`).
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import mpmath
import numpy as np

from sgblend_spec import compensated
from sgblend_spec._namespace import Array, Namespace

#: The range of the erfc table and its interval width (exact binary fractions).
LO, HI, WIDTH = 0.25, 2.0, 0.125
#: The start of the erfcx table and its interval width.
TAIL_LO, TAIL_WIDTH = 2.0, 0.25


class Table(NamedTuple):
    """One piecewise Taylor table: interval k covers [lo + k·width, lo + (k+1)·width), and
    rows[k] = (centre, low part of a_0, a_0 ... a_degree), in float64."""

    lo: float
    hi: float
    width: float
    degree: int
    rows: list


def _table(lo: float, hi: float, width: float, degree: int, coefficients_at) -> Table:
    rows = []
    with mpmath.workdps(120):
        for centre in lo + width * (np.arange(round((hi - lo) / width)) + 0.5):
            a = coefficients_at(mpmath.mpf(centre), degree)
            head = float(a[0])
            rows.append([float(centre), float(a[0] - mpmath.mpf(head)), head, *(float(v) for v in a[1:])])
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
def erfc_table() -> Table:
    """erfc on [LO, HI), degree 13: the first omitted term is below 2^-60 of erfc on every
    interval."""
    return _table(LO, HI, WIDTH, 13, _erfc_coefficients)


@functools.cache
def erfcx_table() -> Table:
    """erfcx on [TAIL_LO, 27) (erfc is subnormal beyond), degree 12."""
    return _table(TAIL_LO, 27.0, TAIL_WIDTH, 12, _erfcx_coefficients)


#: A backend's gather: (table) -> (t -> each element's row of the table, t's shape +
#: (columns,)), the row of the interval that holds t, clamped to the table's ends.
RowsAt = Callable[[Table, Array], Array]


def _horner(table: Table, row: Array, t: Array, relative_lo: Array | None = None) -> Array:
    """Σ a_n h^n, h = t - centre, a_0 with its low part added last; with ``relative_lo`` = δ,
    the sum times (1 - δ) for a small δ, rounded once (δ's term joins the low part)."""
    h = t - row[..., 0]
    p = row[..., -1]
    for n in range(table.degree - 1, 0, -1):
        p = p * h + row[..., 2 + n]
    low = row[..., 1] + p * h
    if relative_lo is not None:
        low = low - (row[..., 2] + low) * relative_lo
    return row[..., 2] + low


#: float32 erfcx on [0, 9) as four polynomials Σ a_n h^n, h = t - centre, one per interval
#: [0, 1), [1, 2), [2, 4), [4, 9): (centre, (a_0, ..., a_11)). Weighted least-squares fits to
#: mpmath's erfcx at 400 Chebyshev points per interval, refined to minimax in relative error
#: (Lawson's iteration): ≤ 3e-9 before the coefficients were rounded to float32.
ERFCX_FLOAT32 = (
    (0.5, (0.6156903505325317, -0.5126888155937195, 0.359345942735672, -0.2220105677843094,
           0.12417010962963104, -0.06397024542093277, 0.030732128769159317, -0.013887258246541023,
           0.005917476024478674, -0.0024212561547756195, 0.0010477191535755992, -0.0003815577656496316)),
    (1.5, (0.32158541679382324, -0.1636229157447815, 0.076151043176651, -0.03293090686202049,
           0.013377337716519833, -0.0051459576934576035, 0.0018861942226067185, -0.0006619366467930377,
           0.00022285331215243787, -7.256965182023123e-05, 2.447193219268229e-05, -7.376415396720404e-06)),
    (3.0, (0.17900115251541138, -0.054372258484363556, 0.01588437147438526, -0.004479431081563234,
           0.0012230320135131478, -0.0003241249069105834, 8.358390914509073e-05, -2.0993975340388715e-05,
           5.0896314860438e-06, -1.2229044159539626e-06, 3.3843591040749743e-07, -7.656104372699701e-08)),
    (6.5, (0.08580566942691803, -0.012905456125736237, 0.001920210663229227, -0.00028273669886402786,
           4.120512312510982e-05, -5.947097633907106e-06, 8.537193139090959e-07, -1.2082172418104165e-07,
           1.583972419894053e-08, -2.2169472924105094e-09, 4.6471812509274457e-10, -6.267835556128531e-11)),
)
#: The upper ends of the first three intervals of ERFCX_FLOAT32, and the last one's
ERFCX_FLOAT32_BOUNDS, ERFCX_FLOAT32_HI = (1.0, 2.0, 4.0), 9.0


def erfc_float32(xp: Namespace, t: Array, fallback: Callable[[Array], Array]) -> Array:
    """float32 erfc(t) = e^(-t²)·erfcx(t) on [0, 9) (t² compensated, as in float64's tail),
    erfcx from :data:`ERFCX_FLOAT32`, each coefficient picked by three selects: no table
    lookup, which XLA:CPU compiles to a gather per element that costs more than the whole
    activation (λ-GELU's fwd+bwd 11× jax.nn.gelu with the tables, 2.2× without). Within
    2.6 ULP (measured on [0, 7.8), where GELU uses it: the Mills series from |v| = 11);
    ``fallback`` (the framework's erfc) below 0 (the formulas' t = |v|/√2 never is), from
    t = 9 and at NaN."""
    zero = compensated.runtime_zero(xp, t)
    inside = (t >= 0) & (t < ERFCX_FLOAT32_HI)
    clamped = xp.where(inside, t, zero + ERFCX_FLOAT32_HI)  # the polynomials see no infinity

    def pick(values):
        out = zero + values[-1]
        for value, bound in zip(values[-2::-1], ERFCX_FLOAT32_BOUNDS[::-1]):
            out = xp.where(clamped < bound, zero + value, out)
        return out

    h = clamped - pick([centre for centre, _ in ERFCX_FLOAT32])
    degree = len(ERFCX_FLOAT32[0][1]) - 1
    erfcx = pick([a[degree] for _, a in ERFCX_FLOAT32])
    for n in range(degree - 1, -1, -1):
        erfcx = erfcx * h + pick([a[n] for _, a in ERFCX_FLOAT32])
    return xp.where(inside, _times_gaussian(xp, t, lambda lo: erfcx - erfcx * lo), fallback(t))


def _times_gaussian(xp: Namespace, t: Array, corrected_erfcx: Callable[[Array], Array]) -> Array:
    """e^(-t²)·erfcx = e·erfcx·(1 - δ), e^(-t²) = e·(1 - δ) from t² as an error-free product
    and :func:`compensated.exp_split`, where ``corrected_erfcx(δ)`` is erfcx·(1 - δ): the
    correction is applied to erfcx (~0.02 at t = 27), where it stays normal, not to e^(-t²),
    where a flush-to-zero kernel would drop it."""
    square, square_lo = compensated.product(xp, t, t)
    e, rho = compensated.exp_split(xp, -square, -square_lo)
    return e * corrected_erfcx(-rho)


def erfc(xp: Namespace, t: Array, fallback: Callable[[Array], Array], rows_at: RowsAt) -> Array:
    """erfc(t) within ~2 ULP (float64) or ~3 ULP (float32): in float64 the erfc table on
    [LO, HI), the erfcx table times a compensated e^(-t²) on [TAIL_LO, tail_hi), and
    ``fallback`` (the framework's erfc) elsewhere; in float32 :func:`erfc_float32`."""
    if not xp.is_double(t):
        return erfc_float32(xp, t, fallback)
    near, far = erfc_table(), erfcx_table()
    row = rows_at(far, t)
    # the correction joins the Horner sum's low part: one rounding fewer (the tail's points over
    # 1.5 ULP against mpmath: 94 -> 37 of 4000 on JAX)
    tail = _times_gaussian(xp, t, lambda lo: _horner(far, row, t, relative_lo=lo))
    out = xp.where((t >= far.lo) & (t < far.hi), tail, fallback(t))
    return xp.where((t >= near.lo) & (t < near.hi), _horner(near, rows_at(near, t), t), out)
