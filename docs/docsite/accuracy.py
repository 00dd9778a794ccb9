"""The accuracy contract (tolerance.html: ULP bounds, how error is measured, the input and
parameter contract) and the measured conformance tables (accuracy.html and the "Measured
accuracy" section of each function page), read from ``conformance-results/*.json``."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from .common import TEX_COMMAND, BuildError, doc_html, esc, table
from .function_pages import quantity_label


# ----------------------------------------------------------------------------- the contract
def tolerance_page(spec) -> str:
    from conformance import ulp

    rows = [[esc(d), esc(b["value"]), esc(b["derivative"]),
             "yes" if d in spec.INPUT_SENSITIVE_DTYPES else "no"] for d, b in spec.ULP_BOUNDS.items()]
    return "\n".join([
        "<h1>Accuracy contract and tolerance model</h1>",
        "<p>Every backend is measured against the 50-digit mpmath oracle "
        "(<code>sgblend_spec.mp</code>), correctly rounded to each dtype. The published bounds "
        "(<code>sgblend_spec.spec.ULP_BOUNDS</code>):</p>",
        table(["dtype", "value (ULP)", "derivatives (ULP)", "input-sensitive scale"], rows, "bounds"),
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


def function_accuracy_html(record, results, spec) -> str:
    """The "Measured accuracy" section of a function page: backend × dtype × quantity."""
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
    return ("<p>Max error in ULPs (bound in brackets; red = over the bound).</p>"
            + table(["Backend", "dtype"] + [quantity_label(record, q) for q in record.quantities], rows, "accuracy"))


def accuracy_page(results, spec) -> str:
    """accuracy.html: per backend, function × dtype (worst quantity), then every failure."""
    s = ["<h1>Measured accuracy</h1>"]
    if not results:
        return "\n".join(s) + NO_RESULTS
    s.append("<p>Max error in ULPs against the mpmath oracle over the conformance grid, worst over "
             "the value and every derivative; bound in brackets (see the "
             '<a href="tolerance.html">accuracy contract</a>). Per-quantity tables are on each function\'s page.</p>')
    for backend, report in results:
        dtypes = [d for d in spec.DTYPES if any(e["dtype"] == d for e in report["entries"])]
        rows = []
        for name in spec.FUNCTIONS:
            cells = [worst_cell([e for e in report["entries"] if e["function"] == name and e["dtype"] == d])
                     for d in dtypes]
            rows.append([f'<a href="{name}.html"><code>{esc(name)}</code></a>'] + cells)
        about = esc(report.get("implementation") or backend)
        if report.get("version"):
            about += f" ({esc(report['version'])})"
        s.append(f'<h2 id="backend-{esc(backend)}">Backend <code>{esc(backend)}</code></h2><p>{about}; '
                 f"from <code>{esc(backend)}.json</code>.</p>")
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
