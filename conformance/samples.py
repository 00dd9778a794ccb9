"""Per-x errors for the docs' error plots: a bounded, deterministic sample of the run.

The accuracy table keeps one number per (function, dtype, quantity); the docs plot the
error against x. Every checked point is offered to :data:`SAMPLES` (``checks.compare``);
it keeps, for the value and ∂f/∂x:

* every fixed point (the grid of ``test_grid`` and the special points), with the worst
  error over the parameter cases at each x;
* of the Hypothesis points (``test_random``), the worst in each bin of x — one bin per
  sign and binade (eight binades per bin in float64), eight per binade for
  1/32 ≤ |x| < 128 — so the sample is a few hundred points however long the run.

Both are deterministic for a given run; the report JSON carries them under ``samples``
(one compact line per series), a few hundred kilobytes per backend.
"""

from __future__ import annotations

import json
import math
from operator import itemgetter

#: The quantities sampled (the docs plot these).
QUANTITIES = ("value", "x")
#: Significant digits that round-trip an x of each dtype through the JSON.
_DIGITS = {"float16": 5, "bfloat16": 4, "float32": 9, "float64": 17}


def _bin(x: float, dtype: str) -> tuple[int, int, int]:
    if x == 0:
        return (0, 0, 0)
    mantissa, exponent = math.frexp(abs(x))  # |x| = mantissa · 2^exponent, mantissa in [0.5, 1)
    fine = 8 if -4 <= exponent <= 7 else 1
    width = 8 if dtype == "float64" else 1
    return (1 if x > 0 else -1, exponent // width, int((mantissa - 0.5) * 2 * fine))


def _keep_worst(kept: dict, key, item, error_of=lambda item: item) -> None:
    """kept[key] = item (an error, or an (error, x) pair with ``error_of`` its first element)
    unless one with a larger or equal error is kept there."""
    if key not in kept or error_of(item) > error_of(kept[key]):
        kept[key] = item


class Samples:
    """What the error plots need from one run (see the module docstring)."""

    def __init__(self):
        self.enabled = False  # conftest turns it on; repro.point and other callers record nothing
        self.source = "grid"  # "grid" (fixed points) or "random" (Hypothesis); set per test
        self.fixed: dict[tuple[str, str, str], dict[float, float]] = {}
        self.random: dict[tuple[str, str, str], dict[tuple, tuple[float, float]]] = {}

    def add(self, function: str, dtype: str, quantity: str, x: float, error: float) -> None:
        """One checked point: its x and its error in ULPs under the tolerance model."""
        if not self.enabled or quantity not in QUANTITIES or math.isnan(error):
            return
        key = (function, dtype, quantity)
        if self.source == "random":
            _keep_worst(self.random.setdefault(key, {}), _bin(x, dtype), (error, x), itemgetter(0))
        else:
            _keep_worst(self.fixed.setdefault(key, {}), x, error)

    def state(self) -> dict:
        """The kept points as JSON-able data, for a pytest-xdist worker to hand over."""
        return {"fixed": [[*k, list(points.items())] for k, points in self.fixed.items()],
                "random": [[*k, [[*b, e, x] for b, (e, x) in bins.items()]] for k, bins in self.random.items()]}

    def merge(self, state: dict) -> None:
        """Fold a worker's :meth:`state` in, keeping the worst error per x and per bin."""
        for *key, points in state["fixed"]:
            mine = self.fixed.setdefault(tuple(key), {})
            for x, error in points:
                _keep_worst(mine, x, error)
        for *key, bins in state["random"]:
            mine = self.random.setdefault(tuple(key), {})
            for *b, error, x in bins:
                _keep_worst(mine, tuple(b), (error, x), itemgetter(0))

    def series(self) -> list[dict]:
        """One series per (function, dtype, quantity): x ascending, error in ULPs (3
        significant digits, "inf" for a NaN or infinite result), worst per x."""
        out = []
        for key in sorted(set(self.fixed) | set(self.random)):
            merged = dict(self.fixed.get(key, {}))
            for error, x in self.random.get(key, {}).values():
                _keep_worst(merged, x, error)
            function, dtype, quantity = key
            digits = _DIGITS.get(dtype, 17)
            xs = sorted(merged)
            out.append({
                "function": function, "dtype": dtype, "quantity": quantity,
                "fixed_points": len(self.fixed.get(key, {})), "random_points": len(self.random.get(key, {})),
                "x": [float(f"{x:.{digits}g}") for x in xs],
                "ulp": [_ulp(merged[x]) for x in xs],
            })
        return out


def _ulp(error: float):
    if not math.isfinite(error):
        return "inf"
    return 0 if error == 0 else float(f"{error:.3g}")


def report_json(report: dict, samples: list[dict]) -> str:
    """The report (indented, as before) with ``samples`` appended, one compact line per series."""
    head = json.dumps(report, indent=1)
    if not samples:
        return head + "\n"
    lines = ",\n".join("  " + json.dumps(s, separators=(",", ":")) for s in samples)
    return head[:-2] + ',\n "samples": [\n' + lines + "\n ]\n}\n"


SAMPLES = Samples()
