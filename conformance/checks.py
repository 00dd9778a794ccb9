"""Comparing an implementation against the oracle, and the accuracy report it feeds."""

from __future__ import annotations

import functools
import importlib.util
import math
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from .samples import SAMPLES
from .strategies import np_dtype
from .ulp import error_in_ulps, ulp_distance
from sgblend_spec import mp, spec


PRECISIONS = spec.PRECISIONS

def ulp_bound(quantity: str, dtype: str, precision: str | None = None) -> int:
    """The bound for ``quantity`` in ``dtype`` under a precision tier (default: the run's,
    ``--precision``), read from ``spec.TIER_BOUNDS``."""
    return spec.ulp_bound(quantity, dtype, precision or REPORT.precision)


@dataclass
class Entry:
    """Max error observed for one (function, dtype, quantity). In a dtype the implementation
    flushes, ``max_error`` is under the flush-to-zero model and ``raw_error`` the exact one."""

    bound: int
    max_error: float = 0.0
    points: int = 0
    worst: str = ""
    supported: bool = True
    raw_error: float | None = None
    raw_worst: str = ""

    @property
    def passed(self) -> bool:
        return not self.supported or self.max_error <= self.bound

    def observe(self, error: float, worst: Callable[[], str]) -> None:
        """Keep ``error`` if it is the largest so far, with its repro (``worst()``, made only then)."""
        if error > self.max_error or not self.worst:
            self.max_error, self.worst = error, worst()

    def observe_raw(self, error: float, worst: Callable[[], str]) -> None:
        """The same for the exact model's figure beside a flush-to-zero one."""
        if self.raw_error is None or error > self.raw_error:
            self.raw_error, self.raw_worst = error, worst()


@dataclass
class Report:
    implementation: str = ""
    version: str = ""
    flushes_subnormals: tuple[str, ...] = ()
    precision: str = "exact"
    entries: dict[tuple[str, str, str], Entry] = field(default_factory=dict)
    #: (rule, test id) -> "" when met, else the first line of why not: the input contract
    #: (errors for bad parameters and x kinds) and the other properties, apart from accuracy.
    contract: dict[tuple[str, str], str] = field(default_factory=dict)
    properties: dict[tuple[str, str], str] = field(default_factory=dict)

    def entry(self, function: str, dtype: str, quantity: str) -> Entry:
        key = (function, dtype, quantity)
        if key not in self.entries:
            self.entries[key] = Entry(bound=ulp_bound(quantity, dtype, self.precision))
        return self.entries[key]

    def state(self) -> dict:
        """Everything one pytest-xdist worker observed, as JSON-able data (see :meth:`merge`)."""
        return {"implementation": self.implementation, "version": self.version,
                "flushes_subnormals": list(self.flushes_subnormals),
                "entries": [[*k, asdict(e)] for k, e in self.entries.items()],
                "contract": [[*k, why] for k, why in self.contract.items()],
                "properties": [[*k, why] for k, why in self.properties.items()]}

    def merge(self, state: dict) -> None:
        """Fold a worker's :meth:`state` into this report: max errors with their worst points,
        point counts summed, a rule unmet if unmet anywhere."""
        self.implementation = self.implementation or state["implementation"]
        self.version = self.version or state["version"]
        self.flushes_subnormals = self.flushes_subnormals or tuple(state["flushes_subnormals"])
        for function, dtype, quantity, fields in state["entries"]:
            other = Entry(**fields)
            mine = self.entries.setdefault((function, dtype, quantity), Entry(bound=other.bound, supported=other.supported))
            mine.supported = mine.points + other.points > 0 or (mine.supported and other.supported)
            mine.points += other.points
            mine.observe(other.max_error, lambda: other.worst)
            if other.raw_error is not None:
                mine.observe_raw(other.raw_error, lambda: other.raw_worst)
        for section, outcomes in ((self.contract, state["contract"]), (self.properties, state["properties"])):
            for rule, test, why in outcomes:
                section[(rule, test)] = section.get((rule, test)) or why

    def table(self) -> str:
        functions = sorted({k[0] for k in self.entries}, key=list(spec.FUNCTIONS).index)
        dtypes = [d for d in spec.DTYPES if any(k[1] == d for k in self.entries)]
        lines = [
            f"sgblend-spec conformance: {self.implementation} ({self.version}), precision {self.precision}",
            "accuracy: max error in ULPs (bound in brackets, see conformance/ulp.py; '!' = over the bound)",
        ]
        for function in functions:
            quantities = spec.FUNCTIONS[function].quantities
            lines.append("")
            lines.append(f"{function:<18}" + "".join(f"{q:>13}" for q in quantities))
            for dtype in dtypes:
                cells = []
                for q in quantities:
                    e = self.entries.get((function, dtype, q))
                    if e is None or not e.supported:
                        cells.append(f"{'n/a':>13}")
                    else:
                        mark = " " if e.passed else "!"
                        cells.append(f"{_fmt(e.max_error)}[{e.bound}]{mark}".rjust(13))
                label = dtype + (" (FTZ)" if dtype in self.flushes_subnormals else "")
                lines.append(f"  {label:<16}" + "".join(cells))
                if dtype in self.flushes_subnormals:
                    raw = [self.entries.get((function, dtype, q)) for q in quantities]
                    lines.append(f"  {dtype + ' raw':<16}" + "".join(
                        f"{'n/a' if e is None or e.raw_error is None else _fmt(e.raw_error):>13}" for e in raw))
        failed = [k for k, e in self.entries.items() if not e.passed]
        lines.append("")
        if self.flushes_subnormals:
            lines.append("(FTZ): the implementation flushes subnormals to zero in this dtype; held to the "
                         "flush-to-zero bound (conformance/ulp.py); 'raw': the same results under the exact model")
        lines.append(f"{len(self.entries) - len(failed)} entries within bound, {len(failed)} over")
        worst = [(k, e) for k, e in self.entries.items() if e.supported and e.worst and e.max_error > 0]
        if worst:
            lines += ["", "worst point of each entry with an error (max ULPs: a one-line repro):"]
            lines += [f"  {f} {d} {q} {_fmt(e.max_error)}{'' if e.passed else '!'}: {e.worst}" for (f, d, q), e in worst]
        for title, outcomes in (("input contract (errors for bad parameters and x kinds; not accuracy)", self.contract),
                                ("other properties (special values, identities, shapes, elementwise)", self.properties)):
            if outcomes:
                unmet = {k: why for k, why in outcomes.items() if why}
                lines += ["", f"{title}: {len(outcomes) - len(unmet)} met, {len(unmet)} not met"]
                lines += [f"  NOT MET {rule} [{test}]: {why}" for (rule, test), why in unmet.items()]
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "implementation": self.implementation,
            "version": self.version,
            "precision": self.precision,
            "bounds": spec.TIER_BOUNDS[self.precision],
            "flushes_subnormals": list(self.flushes_subnormals),
            "entries": [
                {
                    "function": f,
                    "dtype": d,
                    "quantity": q,
                    "max_ulp": None if not e.supported else _number(e.max_error),
                    "bound": e.bound,
                    "points": e.points,
                    "passed": bool(e.passed),
                    "worst": e.worst,
                    "supported": e.supported,
                    "raw_max_ulp": _number(e.raw_error),
                    "raw_worst": e.raw_worst,
                }
                for (f, d, q), e in sorted(self.entries.items())
            ],
            "input_contract": [{"rule": r, "test": t, "met": not why, "why": why}
                               for (r, t), why in sorted(self.contract.items())],
            "properties": [{"rule": r, "test": t, "met": not why, "why": why}
                           for (r, t), why in sorted(self.properties.items())],
        }


def _number(v: float | None):
    return None if v is None else (float(v) if math.isfinite(v) else "inf")


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return "inf"
    return f"{v:.3g}" if v < 1e4 else f"{v:.1e}"


REPORT = Report()


def evaluate(impl, function: str, x: np.ndarray, params: dict[str, float]) -> dict[str, np.ndarray | None]:
    """Every quantity the implementation provides, as arrays of x's shape (None = not provided)."""
    out: dict[str, np.ndarray | None] = {q: None for q in spec.FUNCTIONS[function].quantities}
    out["value"] = np.asarray(impl.value(function, x, dict(params)))
    if hasattr(impl, "grad"):
        for key, v in impl.grad(function, x, dict(params)).items():
            out[key] = np.asarray(v)
    if hasattr(impl, "dxx"):
        out["dxx"] = np.asarray(impl.dxx(function, x, dict(params)))
    return out


def repro(impl, function: str, dtype: str, x: float, params: dict[str, float], quantity: str,
          got: float, exact, rounded: float) -> str:
    call = {"value": "value", "dxx": "dxx"}.get(quantity, "grad")
    suffix = "" if call != "grad" else f"[{quantity!r}]"
    return (
        f"x={x!r} {params} {quantity}: got {got!r}, oracle {mpmath_str(exact)} -> {rounded!r}\n"
        f"    repro: impl.{call}({function!r}, np.array([{x!r}], dtype={dtype!r}), {params}){suffix}"
        f"  # impl = {package_name()}.adapters.load({_impl_spec(impl)})\n"
        f"    oracle: sgblend_spec.mp.evaluate({function!r}, {x!r}, {params})[{quantity!r}]"
    )


def one_line(impl, function: str, dtype: str, x: float, params: dict[str, float]) -> str:
    """A shell line that prints every quantity at one point against the oracle."""
    spec_string, impl_function, framework = _loaded(impl)
    extra = f", impl_function={impl_function!r}" if impl_function else ""
    extra += f", framework={framework!r}" if framework != "numpy" else ""
    call = f"point({spec_string!r}, {function!r}, {dtype!r}, {x!r}, {params!r}{extra})"
    return f'python -c "from {package_name()}.repro import point; {call}"'


@functools.cache
def package_name() -> str:
    """The suite's package as a repro line imports it from any directory:
    ``sgblend_spec.conformance`` wherever sgblend-spec is installed (editable too), the name
    it was imported under otherwise (``conformance`` in a checkout on sys.path)."""
    try:
        return "sgblend_spec.conformance" if importlib.util.find_spec("sgblend_spec.conformance") else __package__
    except ImportError:
        return __package__


def mpmath_str(v) -> str:
    import mpmath

    return mpmath.nstr(v, 20)


def _loaded(impl) -> tuple[str, str | None, str]:
    """The arguments of ``adapters.load`` that give ``impl`` again, from any directory: a
    module of this suite named under :func:`package_name` (``conformance.adapters.…`` in a
    checkout is ``sgblend_spec.conformance.adapters.…`` once installed)."""
    from .adapters import LOADED

    spec_string, function, framework = LOADED.get(
        id(impl), (f"{type(impl).__module__}:{type(impl).__name__}", None, "numpy"))
    if spec_string.startswith(f"{__package__}."):
        spec_string = package_name() + spec_string[len(__package__):]
    return spec_string, function, framework


def _impl_spec(impl) -> str:
    spec_string, function, _ = _loaded(impl)
    return f"{spec_string!r}" + (f", {function!r}" if function else "")


def smallest_normal(dtype: str) -> float:
    return 2.0 ** mp.FORMATS[dtype].emin


def matches_table(x: float, quantity: str, value: float, expected: float, params: dict, dtype: str,
                   flush_to_zero: bool = False) -> bool:
    """Whether ``value`` (a result at the special point ``x``) is the table's ``expected``:
    NaN for NaN, exact for 0 and ±inf (a zero value keeps the sign of x = ±0 when γ = 0),
    within the ULP bound otherwise (the table is evaluated in float64). A flush-to-zero
    implementation may give a zero for a subnormal entry (conformance/ulp.py)."""
    np_type = np_dtype(dtype)
    want = float(np.asarray(expected).astype(np_type))
    if flush_to_zero and value == 0 and 0 < abs(want) < smallest_normal(dtype):
        return True
    bound = ulp_bound(quantity, dtype)
    same = (math.isnan(value) and math.isnan(want)) or value == want or (
        math.isfinite(want) and want != 0 and
        ulp_distance(np.array([value]).astype(np_type), np.array([want]).astype(np_type), dtype)[0]
        <= bound
    )
    # Signed zero: f(±0) keeps the sign of a zero value (x·σ(βx) at -0 is -0; minus γ = +0
    # keeps it too, while minus γ = -0 gives +0, as IEEE subtraction does).
    if (same and want == 0 and not math.isinf(x) and quantity == "value" and params.get("gamma", 0) == 0
            and math.copysign(1, params.get("gamma", 0.0)) > 0):
        same = math.copysign(1, value) == math.copysign(1, x)
    return same


def flushed_parameters(params: dict[str, float], dtype: str) -> dict[str, float]:
    """The parameters as an implementation that flushes subnormals in ``dtype`` reads them:
    a subnormal is a zero of its sign (the flush-to-zero tier of conformance/ulp.py)."""
    tiny = smallest_normal(dtype)
    return {k: math.copysign(0.0, v) if abs(v) < tiny else v for k, v in params.items()}


def compare(impl, function: str, dtype: str, xs: np.ndarray, params: dict[str, float],
            report: Report = REPORT) -> list[str]:
    """Check every quantity at every x; record the errors; return failure descriptions."""
    x = np.asarray(xs, dtype=np_dtype(dtype))
    got = evaluate(impl, function, x, params)
    points = [float(v) for v in x.astype(np.float64)]
    exact = [mp.evaluate(function, v, params) for v in points]
    flush_to_zero = dtype in getattr(impl, "flushes_subnormals", ())
    # A flush-to-zero implementation reads a subnormal parameter as a signed zero; the
    # result for the parameter it read is not an error either (conformance/ulp.py).
    flushed = flushed_parameters(params, dtype) if flush_to_zero else params
    exact_flushed = [mp.evaluate(function, v, flushed) for v in points] if flushed != params else None
    failures = []
    for quantity, values in got.items():
        entry = report.entry(function, dtype, quantity)
        if values is None:
            entry.supported = entry.points > 0
            continue
        if values.shape != x.shape or values.dtype != x.dtype:
            failures.append(
                f"{quantity}: returned shape {values.shape} dtype {values.dtype}, expected {x.shape} {x.dtype}"
            )
            continue
        entry.supported = True
        truth = [e[quantity] for e in exact]
        rounded = np.array([mp.round_to(v, dtype) for v, _ in truth]).astype(x.dtype)
        distances = ulp_distance(values, rounded, dtype)
        wide = values.astype(np.float64)

        def error(i: int, v, scale, distance: float, flush: bool = flush_to_zero) -> float:
            """Point i's error against the exact value v with condition scale ``scale``."""
            return error_in_ulps(float(wide[i]), v, scale, dtype, distance, flush)

        for i, (v, scale) in enumerate(truth):
            g = float(wide[i])
            err = error(i, v, scale, distances[i])
            if exact_flushed and err > entry.bound:
                w, w_scale = exact_flushed[i][quantity]
                w_rounded = np.array([mp.round_to(w, dtype)]).astype(x.dtype)
                err = min(err, error(i, w, w_scale, ulp_distance(values[i:i + 1], w_rounded, dtype)[0]))
            entry.points += 1
            SAMPLES.add(function, dtype, quantity, points[i], err)  # the docs' error plots
            def worst(i=i) -> str:
                return one_line(impl, function, dtype, points[i], params)

            if flush_to_zero:  # the exact model's figure, shown beside the flush-to-zero one
                entry.observe_raw(error(i, v, scale, distances[i], flush=False), worst)
            entry.observe(err, worst)
            if err > entry.bound:
                failures.append(
                    repro(impl, function, dtype, points[i], params, quantity, g, v,
                          float(rounded.astype(np.float64)[i]))
                )
    return failures
