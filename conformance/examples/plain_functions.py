"""Two GELUs as a port might write them, to show ``--impl ... --impl-function gelu``.

    pytest conformance --impl conformance.examples.plain_functions:gelu_via_erfc --impl-function gelu
    pytest conformance --impl conformance.examples.plain_functions:gelu_via_erf --impl-function gelu

The first evaluates the spec's stable form in float64 and passes. The second is the
textbook ½x(1 + erf(x/√2)) in the input's dtype: it is exactly 0 for x ≤ -6 in float32
(SPEC-NOTES), and the suite rejects it with a repro of the failing point.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def gelu_via_erfc(x: np.ndarray) -> np.ndarray:
    """x·Φ(x), Φ(x) = erfc(-x/√2)/2, in float64 and rounded once; 0 at x = -inf."""
    wide = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore"):  # -inf·0 at x = -inf, replaced by the limit
        value = wide * 0.5 * special.erfc(-wide / np.sqrt(2.0))
    return np.where(wide == -np.inf, 0.0, value).astype(np.asarray(x).dtype)


def gelu_via_erf(x: np.ndarray) -> np.ndarray:
    """½x(1 + erf(x/√2)) in the input's dtype: cancels to 0 in the negative tail."""
    x = np.asarray(x)
    return (0.5 * x * (1 + special.erf(x / x.dtype.type(np.sqrt(2.0))))).astype(x.dtype)
