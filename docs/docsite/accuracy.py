"""The accuracy contract (tolerance.html: ULP bounds, how error is measured, the input and
parameter contract) and the measured conformance tables (accuracy.html and the "Measured
accuracy" section of each function page), read from ``conformance-results/*.json``."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from . import error_plots
from .common import TEX_COMMAND, BuildError, doc_html, esc, table
from .function_pages import quantity_label


# ----------------------------------------------------------------------------- the contract
def tolerance_page(spec) -> str:
    from conformance import ulp

    rows = [[esc(d)] + [esc(spec.TIER_BOUNDS[tier][d][kind]) for tier in spec.PRECISIONS
                        for kind in ("value", "derivative")] for d in spec.DTYPES]
    headers = ["dtype"] + [f"{tier}: {kind} (ULP)" for tier in spec.PRECISIONS for kind in ("value", "derivatives")]
    return "\n".join([
        "<h1>Accuracy contract and tolerance model</h1>",
        "<p>Every backend is measured against the 50-digit mpmath oracle "
        "(<code>sgblend_spec.mp</code>), correctly rounded to each dtype. The published bounds, "
        "per precision tier (<code>precision=</code>; <code>sgblend_spec.spec.TIER_BOUNDS</code>): "
        "\"exact\" evaluates float16/bfloat16/float32 in float64 and rounds once (the NumPy "
        "reference's default); \"fast\" computes them in float32 arithmetic with compensated "
        "arguments (the framework backends' default).</p>",
        table(headers, rows, "bounds"),
        "<p>Known exceptions (<code>spec.TIER_EXCEPTIONS</code>), each far outside the layers' "
        "constraints:</p><ul>" + "".join(f"<li>{esc(e)}</li>" for e in spec.TIER_EXCEPTIONS) + "</ul>",
        f"<h2><code>spec.ulp_bound</code></h2>{doc_html(spec.ulp_bound.__doc__)}",
        "<h2>How the error is measured (<code>conformance/ulp.py</code>)</h2>",
        doc_html(ulp.__doc__),
        '<p>Measured numbers: <a href="accuracy.html">accuracy tables</a>.</p>',
        input_contract_html(spec),
    ])


#: spec.Clause fields and where input_contract_html renders them (a new field fails the build).
RENDERED_CLAUSE_FIELDS = {"key", "subject", "rule", "error", "reason"}


def input_contract_html(spec) -> str:
    """spec.INPUT_CONTRACT as a table: how every implementation treats x, parameters, layers,
    compiled code, training and repeated runs."""
    missing = {f.name for f in dataclasses.fields(spec.Clause)} - RENDERED_CLAUSE_FIELDS
    if missing:
        raise BuildError(f"docs/docsite/accuracy.py does not render Clause field(s) {sorted(missing)}")
    for clause in spec.INPUT_CONTRACT:
        for label, text in (("rule", clause.rule), ("error", clause.error), ("reason", clause.reason)):
            if TEX_COMMAND.search(text):
                raise BuildError(f"INPUT_CONTRACT[{clause.key}].{label} contains TeX: {text!r}")
    rows = [[f'<code id="contract-{esc(c.key)}">{esc(c.key)}</code>', esc(c.subject), esc(c.rule),
             esc(c.error) or "—", esc(c.reason)] for c in spec.INPUT_CONTRACT]
    return ('<h2 id="input-contract">Input and parameter contract (<code>spec.INPUT_CONTRACT</code>)</h2>'
            "<p>The same in every backend; the contract tests (<code>tests/contract/</code>, run against "
            "every backend), each backend's own tests and the conformance suite check it.</p>"
            + table(["Clause", "Applies to", "Behaviour", "Error", "Why"], rows, "contract"))


# ----------------------------------------------------------------------------- measured
def load_results(results_dir: Path) -> list[tuple[str, dict]]:
    """(backend, report) for every conformance JSON, sorted by backend name."""
    out = []
    for path in sorted(results_dir.glob("*.json")) if results_dir.is_dir() else []:
        try:
            report = json.loads(path.read_text())
            report["entries"]
        except (ValueError, KeyError, TypeError) as error:
            raise BuildError(f"{path} is not a conformance report ({error}); rerun `nox -s conformance`") from error
        out.append((path.stem, report))
    return out


NO_RESULTS = (
    '<p class="note">No conformance results in this build. Run <code>nox -s conformance</code> '
    "first: it writes <code>conformance-results/BACKEND.json</code>, which this page renders.</p>"
)


def ulp_text(value) -> str:
    return "∞" if value == "inf" else f"{float(value):.3g}"


def ulp_cell(entry: dict | None) -> str:
    """One measured entry: max ULP (red over the bound) and the bound in brackets."""
    if entry is None or not entry.get("supported", True) or entry["max_ulp"] is None:
        return '<span class="na">n/a</span>'
    text = ulp_text(entry["max_ulp"])
    cls = "pass" if entry["passed"] else "fail"
    title = f"{entry['points']} points, bound {entry['bound']} ULP"
    return f'<span class="{cls}" title="{esc(title)}">{esc(text)}</span> <span class="bound">[{entry["bound"]}]</span>'


def worst_cell(entries: list[dict]) -> str:
    """The entry furthest over (or closest to) its bound, and how many are over."""
    measured = [e for e in entries if e.get("supported", True) and e["max_ulp"] is not None]
    if not measured:
        return '<span class="na">n/a</span>'

    def bound_ratio(entry):
        value = math.inf if entry["max_ulp"] == "inf" else float(entry["max_ulp"])
        return value / entry["bound"] if entry["bound"] else value

    cell = ulp_cell(max(measured, key=bound_ratio))
    failed = sum(not e["passed"] for e in measured)
    return cell + (f' <span class="fail">({failed} over)</span>' if failed else "")


_SERIES: dict[int, tuple[list, list]] = {}
_NAIVE = error_plots.Naive()


def plotted_series(results) -> list:
    """The error plots' series for these results: backends and tiers, native ops, the naive
    port (its errors computed once per build, per function)."""
    key = id(results)
    if key not in _SERIES or _SERIES[key][0] is not results:
        _SERIES.clear()
        _SERIES[key] = (results, error_plots.series_of(results) + [_NAIVE])
    return _SERIES[key][1]


def error_figure_html(record, results) -> str:
    """The function page's error-against-x figure (inline SVG), or a note on what is missing."""
    svg = error_plots.error_figure(record, plotted_series(results))
    if svg is None:
        return ('<p class="note">The conformance results carry no per-x samples for this function; '
                "rerun <code>nox -s conformance</code> to draw its error plot.</p>")
    natives = [b.removesuffix("-native") for b, r in results if error_plots.is_native(b, r)
               and any(e["function"] == record.name for e in r["entries"])]
    native = (f"the native op of {', '.join(natives)} (<code>nox -s native</code>), " if natives else "")
    return (f'<figure class="errors" id="errors-{esc(record.name)}">{svg}<figcaption>Error in ULPs of the float32 '
            "value (above) and of ∂f/∂x (below) against x over the whole float32 range, from the smallest "
            "subnormal to the overflow edge ±3.4·10³⁸: a log scale both ways from 0, the subnormals grey, and "
            "the decades 0.1 ≤ |x| ≤ 100 (where the functions change shape) shaded and drawn ten times wider. One marker series per backend and "
            f"precision tier in <code>conformance-results/</code>, {native}and a naive float32 port of the "
            "same formula (σ = 1/(1 + e^−z), Φ = ½(1 + erf(z/√2)), computed when the site was built). Points: "
            "the conformance grid (every magnitude, the overflow points, a dense stretch around 0) and the "
            "worst Hypothesis point per bin of x, each the worst over the parameter cases tested; the dashed "
            "line is the bound. Errors under 0.1 ULP (exact results included) sit on the bottom line, NaN or "
            "±∞ where a number was due on the top one.</figcaption></figure>")


def function_accuracy_html(record, results, spec) -> str:
    """The "Measured accuracy" section of a function page: the error plot, then backend ×
    dtype × quantity."""
    if not results:
        return NO_RESULTS
    rows = []
    for backend, report in results:
        entries = {(e["dtype"], e["quantity"]): e for e in report["entries"] if e["function"] == record.name}
        for dtype in spec.DTYPES:
            if not any(d == dtype for d, _ in entries):
                continue
            rows.append([f"<code>{esc(backend)}</code>", esc(dtype)]
                        + [ulp_cell(entries.get((dtype, q))) for q in record.quantities])
    if not rows:
        return "<p>No conformance result covers this function.</p>"
    return (error_figure_html(record, results)
            + "<p>Max error in ULPs (bound in brackets; red = over the bound).</p>"
            + table(["Backend", "dtype"] + [quantity_label(record, q) for q in record.quantities], rows, "accuracy"))


def accuracy_page(results, spec) -> str:
    """accuracy.html: per backend, function × dtype (worst quantity), then every failure."""
    s = ["<h1>Measured accuracy</h1>"]
    if not results:
        return "\n".join(s) + NO_RESULTS
    s.append("<p>Max error in ULPs against the mpmath oracle over the conformance grid, worst over "
             "the value and every derivative; bound in brackets (see the "
             '<a href="tolerance.html">accuracy contract</a>). Per-quantity tables and the error '
             "against x are on each function\'s page.</p>")
    series = plotted_series(results)
    s.append(f'<figure class="errors" id="accuracy-summary">{error_plots.summary_figure(series, spec.FUNCTIONS)}'
             "<figcaption>Float32 max error in ULPs of the value (above) and of ∂f/∂x (below), per function: "
             "each backend and precision tier, each framework's native op where it has one (exact and tanh "
             "GELU, SiLU = swish at β = 1; <code>nox -s native</code>) and a naive float32 port of the same "
             "formula. Log scale; the dashed line is the bound; a bar at the top is a NaN or ±∞ where a "
             "number was due.</figcaption></figure>")
    natives = [(b, r) for b, r in results if error_plots.is_native(b, r)]
    results = [(b, r) for b, r in results if not error_plots.is_native(b, r)]
    for backend, report in results + natives:
        dtypes = [d for d in spec.DTYPES if any(e["dtype"] == d for e in report["entries"])]
        rows = []
        for name in spec.FUNCTIONS:
            cells = [worst_cell([e for e in report["entries"] if e["function"] == name and e["dtype"] == d])
                     for d in dtypes]
            rows.append([f'<a href="{name}.html"><code>{esc(name)}</code></a>'] + cells)
        about = esc(report.get("implementation") or backend)
        if report.get("version"):
            about += f" ({esc(report['version'])})"
        tier = "" if error_plots.is_native(backend, report) else f"; precision tier {esc(report.get('precision', 'exact'))}"
        kind = ("Native op" if error_plots.is_native(backend, report) else "Backend")
        s.append(f'<h2 id="backend-{esc(backend)}">{kind} <code>{esc(backend)}</code></h2><p>{about}{tier}; '
                 f"from <code>{esc(backend)}.json</code>"
                 + (" (the framework's own functions, for comparison: not expected to meet the bounds, "
                    "and not counted below)" if kind == "Native op" else "") + ".</p>")
        s.append(table(["Function"] + [esc(d) for d in dtypes], rows, "accuracy summary"))
    failures = [(b, e) for b, r in results for e in r["entries"] if not e["passed"]]
    s.append(f"<h2>Entries over the bound ({len(failures)})</h2>")
    if failures:
        s.append(table(
            ["Backend", "Function", "dtype", "Quantity", "Max ULP", "Bound", "Worst point"],
            [[f"<code>{esc(b)}</code>", esc(e["function"]), esc(e["dtype"]), esc(e["quantity"]),
              esc(ulp_text(e["max_ulp"])), esc(e["bound"]), f"<code>{esc(e.get('worst', ''))}</code>"]
             for b, e in failures],
            "failures",
        ))
    else:
        s.append("<p>None: every measured entry is within its bound.</p>")
    return "\n".join(s)
