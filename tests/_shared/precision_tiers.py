"""What the precision-tier tests of the torch and JAX backends share (issue #16 item 5): the
grid and the parameter point, the ULP distance, the comparison of a backend's value, partials
and second derivative with the NumPy reference in the same tier, and the default tier.

A test folder's module imports it after putting ``tests/_shared`` on ``sys.path``.
"""

from __future__ import annotations

import inspect

import ml_dtypes
import numpy as np

from sgblend_spec import reference, spec
from sgblend_spec.conformance.ulp import ulp_distance

POINT = {"alpha": 0.375, "beta": 1.25, "gamma": 0.125, "lam": 1.75}  # exact in every dtype
GRID = np.concatenate([-np.logspace(-4, 1.5, 40), [0.0], np.logspace(-4, 1.5, 40)])
NP = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32, "float64": np.float64}
#: The dtypes whose tiers differ (float64 is float64 in both).
NARROW = ("float16", "bfloat16", "float32")
# Fast-tier float32 backend vs fast-tier reference: both evaluate the same formulas in
# float32 with different exp/erfc/log1p kernels (ATen's or XLA's vs NumPy's), whose last-bit
# differences the formulas amplify (on this grid up to 64 ULP for torch, 448 for JAX at a
# partial's zero): :func:`close` holds them to a loose bound. The bounds against the oracle
# are the conformance suite's (``sgblend-conformance --precision fast``).


def ulps(got, want, dtype: str) -> float:
    """Largest distance in units in the last place (consecutive floats differ by 1; ±0 are
    one value; a NaN against a number is inf), as the conformance suite counts it."""
    g, w = np.asarray(got, NP[dtype]), np.asarray(want, NP[dtype])
    return float(np.max(ulp_distance(g, w, dtype), initial=0.0))


def close(got, want, dtype: str, precision: str, quantity: str) -> None:
    """Within the tier's ULP bound of the reference; fast float32 within a loose bound (a
    relative 1e-4, or 1e-6 of the grid's largest magnitude near the partials' zeros)."""
    if (precision, dtype) != ("fast", "float32"):
        assert ulps(got, want, dtype) <= spec.ulp_bound(quantity, dtype, precision), quantity
        return
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * np.max(np.abs(want)), err_msg=quantity)


def check_against_reference(name: str, x: np.ndarray, value, partials: dict, dxx, dtype: str,
                            precision: str) -> None:
    """A backend's ``value``, ``partials`` (keyed "x" and each parameter) and ``dxx`` of spec
    function ``name`` at ``x`` (of ``dtype``) and :data:`POINT` each :func:`close` to the NumPy
    reference in ``precision``."""
    params = {n: POINT[n] for n in spec.FUNCTIONS[name].param_names}
    close(value, getattr(reference, name)(x, **params, precision=precision), dtype, precision, "value")
    want = getattr(reference, f"{name}_grad")(x, **params, precision=precision)
    for quantity, got in partials.items():
        close(got, want[quantity], dtype, precision, quantity)
    close(dxx, getattr(reference, f"{name}_dxx")(x, **params, precision=precision), dtype, precision, "dxx")


def check_default_tier_is_fast(backend) -> None:
    """The backends' default tier is "fast", shown as the keyword-only default of every public
    function of ``backend``."""
    assert spec.DEFAULT_PRECISION["backends"] == "fast"
    for name in spec.FUNCTIONS:
        parameter = inspect.signature(getattr(backend, name)).parameters["precision"]
        assert parameter.default == "fast" and parameter.kind is inspect.Parameter.KEYWORD_ONLY
