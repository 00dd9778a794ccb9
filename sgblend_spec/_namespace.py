"""The array namespace the formulas are written against.

`sgblend_spec.formulas` uses only the operations named in :class:`Namespace`, so one
formula serves NumPy, PyTorch, TensorFlow and JAX. Arithmetic (``+ - * /``), comparison
and unary minus are the array type's own operators; everything else goes through the
namespace. The Array API has no ``erfc``, and frameworks disagree on ``where`` with
Python scalars, which is why this is a small explicit record rather than array-api-compat.

Each backend builds its own ``Namespace`` from its framework; this module builds only the
NumPy one, so importing it never imports a framework.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

Array = Any


def is_double(a: Array) -> bool:
    """Whether ``a``'s dtype is float64 (a Python number counts as one), read from the dtype's
    name, which NumPy, PyTorch, TensorFlow and JAX all spell "float64" (also while tracing).

    The error-free transformations of :mod:`sgblend_spec.formulas` split a float into halves
    of p/2 bits, which needs the working precision p: 53 here, else 24 (float32; the
    formulas never work in a narrower type)."""
    dtype = getattr(a, "dtype", None)
    return dtype is None or "float64" in str(dtype)


@dataclass(frozen=True)
class Namespace:
    """Elementwise operations, each with the semantics of its NumPy namesake.

    ``where(cond, a, b)`` takes two arrays of the working dtype (never Python scalars).
    ``finite(a)`` is ``a`` with ±inf replaced by ±(the largest finite value of a's dtype),
    NaN kept (a clip): the formulas apply it to a factor that is infinite only where the
    other factor of its product is exactly 0.
    ``rint`` rounds to the nearest integer (ties to even) with derivative 0 under autodiff.
    ``erfc`` is the complementary error function, accurate in its tail (relative error).
    A backend that differentiates *through* the formulas (for second derivatives) must give
    ``abs`` the derivative +1 at 0 and ``where`` the product rule where both branches are
    0: the formulas are even/odd in u by construction, and sign(0) = 0 would drop the odd
    part's slope at u = 0 (the torch and TensorFlow backends do this).
    """

    name: str
    exp: Callable[[Array], Array]
    erfc: Callable[[Array], Array]
    abs: Callable[[Array], Array]
    where: Callable[[Array, Array, Array], Array]
    finite: Callable[[Array], Array]
    rint: Callable[[Array], Array]
    #: whether an array is float64 (see :func:`is_double`); a framework whose dtype names
    #: differ overrides it
    is_double: Callable[[Array], bool] = is_double
    #: True where a float64 evaluation is rounded to a narrower dtype afterwards (the "exact"
    #: tier's float16/bfloat16/float32, :meth:`for_input`): rounding to float32 forgives a few
    #: float64 ULPs, so the formulas skip the work only float64's own last bits need
    narrow_result: bool = False
    #: whether a code generator may contract a·b + c into one FMA (XLA, Triton, a user's
    #: torch.compile): then :func:`compensated.rounded` guards every error-free product against
    #: it. False where the arithmetic runs as written (NumPy, torch's own CPU kernels, compiled
    #: with contraction pinned off): the same numbers, three operations fewer per product
    may_contract: bool = True
    #: the rounding error of a product, product_error(a, b, p) = a·b - p exactly for p = fl(a·b)
    #: (``b`` an array or a Python number), where the namespace has a fused multiply-add to
    #: take it from, fma(a, b, -p): torch's own compiled kernels (Inductor's fmadd, std::fma,
    #: tl.fma). 2 operations instead of Dekker's 16 (:func:`compensated.two_product`); None
    #: (NumPy, the frameworks' eager ops, XLA, which has no FMA op): Dekker's product.
    product_error: Callable[[Array, Array, Array], Array] | None = None

    def double_word(self, a: Array) -> bool:
        """Whether ``a``'s result keeps float64's last bits (float64, not rounded to a narrower
        dtype afterwards): then the formulas correct exp's own error and sum an SG-Blend's
        terms as head + low (its value bound of 2 ULP needs both; they cost the float64
        SG-Blend ~2× its time)."""
        return self.is_double(a) and not self.narrow_result

    def __post_init__(self):
        # the narrow_result copy for_input returns, made here: under torch.compile a copy made
        # (and cached) while tracing would become a guard that fails on the next call
        narrowed = self if self.narrow_result else replace(self, name=self.name + "-narrow", narrow_result=True)
        object.__setattr__(self, "_narrowed", narrowed)

    def for_input(self, dtype) -> Namespace:
        """The namespace an input of ``dtype`` is evaluated with: this one for float64, else
        its copy with ``narrow_result`` (the input's result is rounded from the working dtype,
        so float64's own last bits are not kept). The dtype is read by name, as in
        :func:`is_double`."""
        return self if "float64" in str(dtype) else self._narrowed


def numpy_namespace() -> Namespace:
    import math

    import numpy as np

    # The C library's erfc (glibc: within 2.4 ULP over the whole range, subnormal tail
    # included), applied elementwise where the tables of sgblend_spec.erfc_taylor_table do
    # not reach: scipy.special.erfc is up to ~500 ULP off in its tail (it rounds t² before
    # the exponential) and flushes to 0 for t > 26.64. In float64 the tables do better on
    # [0.25, 27) (1.7 ULP with NumPy's exp, measured at 4000 points against mpmath; glibc
    # there 2.2); float32 (the "fast" tier) is computed in float32 like every backend's, from
    # erfc_float32's polynomials on [0, 9) (the formulas use erfc below t = 7.8 only).
    scalar_erfc = np.frompyfunc(math.erfc, 1, 1)

    def c_erfc_outside(lo: float, hi: float):
        """The C library's erfc where t is outside [lo, hi) (or NaN), 0 elsewhere: the tables'
        fallback, evaluated only where a select keeps it (one Python call per element)."""

        def fallback(t):
            t = np.asarray(t)
            out = np.zeros_like(t)
            outside = ~((t >= lo) & (t < hi))
            out[outside] = np.asarray(scalar_erfc(t[outside]), dtype=np.float64)
            return out

        return fallback

    def table_rows(table, t):
        rows = np.asarray(table.rows)
        k = np.clip(np.floor((t - table.lo) / table.width), 0, len(rows) - 1)
        return rows[np.where(np.isnan(k), 0, k).astype(np.intp)]  # NaN: any row (the result is NaN)

    def erfc(t):
        from sgblend_spec import erfc_taylor_table as tables

        t = np.asarray(t)
        if t.dtype == np.float32:
            return tables.erfc(namespace, t, c_erfc_outside(0.0, tables.ERFCX_FLOAT32_HI), table_rows)
        return tables.erfc(namespace, t, c_erfc_outside(tables.LO, tables.erfcx_table().hi), table_rows)

    def finite(a):
        big = np.finfo(np.result_type(a)).max
        return np.clip(a, -big, big)

    def exp(z):
        """e^z; in float32 through float64, rounded once to float32. NumPy's own float32 exp
        (SIMD) is up to 2.0 ULP off (measured, NumPy 2.4 on AVX-512), which alone spent half of
        the fast tier's value bound (SG-Blend at x = -3.84: 4.74 ULP, bound 4); the
        frameworks' float32 exp (torch's Sleef: 0.54 ULP measured) are within 1."""
        z = np.asarray(z)
        if z.dtype != np.float32:
            return np.exp(z)
        with np.errstate(over="ignore"):
            return np.exp(z.astype(np.float64)).astype(np.float32)

    namespace = Namespace(
        name="numpy",
        exp=exp,
        erfc=erfc,
        abs=np.abs,
        where=np.where,
        finite=finite,
        rint=np.rint,
        may_contract=False,
    )
    return namespace
