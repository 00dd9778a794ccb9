"""One point of an implementation against the oracle, every quantity: the one-line repro
that the report prints for the worst point of each entry.

    python -c "from sgblend_spec.conformance.repro import point; point('pkg.mod:attr', 'sgblend', 'float32', -1e-40, {'alpha': 0.0, 'beta': 1.0, 'gamma': 0.0})"
"""

from __future__ import annotations

import numpy as np

from sgblend_spec import mp

from . import adapters
from .checks import Report, compare, evaluate, mpmath_str
from .strategies import np_dtype


def point(impl, function: str, dtype: str, x: float, params: dict[str, float],
          impl_function: str | None = None, framework: str = "numpy", precision: str = "exact") -> Report:
    """Print got, oracle and error in ULPs for each quantity at ``x``; return the report."""
    implementation = adapters.load(impl, impl_function, framework) if isinstance(impl, str) else impl
    xs = np.array([x], dtype=np.float64).astype(np_dtype(dtype))
    report = Report(implementation=implementation.name, version=implementation.version, precision=precision,
                    flushes_subnormals=tuple(getattr(implementation, "flushes_subnormals", ())))
    got = evaluate(implementation, function, xs, params)
    compare(implementation, function, dtype, xs, params, report)
    exact = mp.evaluate(function, float(xs.astype(np.float64)[0]), params)
    print(f"{implementation.name}: {function} {dtype} at x={float(xs.astype(np.float64)[0])!r} {params}")
    for quantity, values in got.items():
        if values is None:
            continue
        entry = report.entries[(function, dtype, quantity)]
        raw = "" if entry.raw_error is None else f" (exact model: {entry.raw_error:.3g})"
        print(f"  {quantity:>6}: got {float(values.astype(np.float64)[0])!r}, oracle {mpmath_str(exact[quantity][0])}"
              f" -> {mp.round_to(exact[quantity][0], dtype)!r}; error {entry.max_error:.3g} ULP [bound {entry.bound}]{raw}")
    return report
