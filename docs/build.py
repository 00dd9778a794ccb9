"""Build the sgblend-spec reference site into ``docs/_site/`` (the single entry point).

    python docs/build.py [--out DIR] [--results DIR] [--bench DIR]

Every formula, domain, default, special value, identity and decision on the site is read
from the records in :mod:`sgblend_spec.spec`; nothing is typed twice. LaTeX is converted to
MathML at build time (browsers render MathML natively), so the site needs no script and no
network. Plots are drawn with matplotlib from the NumPy reference. Accuracy tables are read
from ``conformance-results/*.json`` (written by ``nox -s conformance``), speed tables from
``benchmarks/results/*.json`` (written by ``nox -s bench``). Any warning raised
while building is an error.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import html
import importlib
import inspect
import json
import math
import re
import shutil
import sys
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# `conformance` is not an installed package; the repository root provides it (and
# `sgblend_spec` when the project is not installed). Appended, so an installed copy wins.
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

BACKENDS = ("torch", "tensorflow", "jax")
#: Pages that are not function pages (a spec function may not take one of these names).
FIXED_PAGES = ("index", "tolerance", "accuracy", "speed", "api", "examples")


class BuildError(RuntimeError):
    """The site cannot be built faithfully (e.g. a spec field the builder does not render)."""


# ============================================================================ text helpers
def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


_SUPERSCRIPT_PRIME = re.compile(r"<msup>(<mi>[^<]*</mi>)<mi>(&#x0203[234];)</mi></msup>")


def math_html(latex: str, display: bool = False) -> str:
    """LaTeX → MathML. Refuses output that still contains a TeX command (unknown macro)."""
    from latex2mathml.converter import convert

    mathml = convert(latex, display="block" if display else "inline")
    # latex2mathml writes f' as a superscript prime, which a browser shrinks to a dot-sized
    # glyph; a prime operator at full size reads as f′.
    mathml = _SUPERSCRIPT_PRIME.sub(r'\1<mo lspace="0" rspace="0">\2</mo>', mathml)
    if "\\" in mathml or "$" in mathml:
        raise BuildError(f"latex2mathml left TeX in its output for {latex!r}: {mathml}")
    return mathml


_INLINE = [
    (re.compile(r":[a-z]+:`~?([^`]+)`"), r"<code>\1</code>"),  # :mod:`x`, :class:`x`
    (re.compile(r"``([^`]+)``"), r"<code>\1</code>"),
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])"), r"<em>\1</em>"),  # *emphasis*
]


def inline_doc(text: str) -> str:
    out = esc(text)
    for pattern, repl in _INLINE:
        out = pattern.sub(repl, out)
    return out


def doc_html(doc: str | None) -> str:
    """A docstring as HTML: paragraphs, '* ' bullet lists and '::' literal blocks."""
    if not doc:
        return ""
    lines = inspect.cleandoc(doc).splitlines()
    parts: list[str] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        if lines[i].lstrip().startswith("* "):
            items: list[list[str]] = []
            while i < len(lines) and lines[i].strip():
                if lines[i].lstrip().startswith("* "):
                    items.append([lines[i].lstrip()[2:]])
                else:
                    items[-1].append(lines[i].strip())
                i += 1
                # a blank line between bullets continues the list
                if i + 1 < len(lines) and not lines[i].strip() and lines[i + 1].lstrip().startswith("* "):
                    i += 1
            parts.append("<ul>" + "".join(f"<li>{inline_doc(' '.join(it))}</li>" for it in items) + "</ul>")
            continue
        block = []
        while i < len(lines) and lines[i].strip() and not lines[i].lstrip().startswith("* "):
            block.append(lines[i].strip())
            i += 1
        text = " ".join(block)
        literal = text.endswith("::")
        if literal:
            text = text[:-1]
        parts.append(f"<p>{inline_doc(text)}</p>")
        if literal:
            code: list[str] = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "\t"))):
                code.append(lines[i])
                i += 1
            parts.append("<pre>" + esc(inspect.cleandoc("\n".join(code))) + "</pre>")
    return "\n".join(parts)


def fmt_number(v: float) -> str:
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if v == math.inf:
        return "+∞"
    if v == -math.inf:
        return "−∞"
    if v == 0:
        return "−0" if math.copysign(1.0, v) < 0 else "0"
    text = f"{v:.10g}"
    return text.replace("-", "−")


def fmt_x(v: float) -> str:
    if v == 0:
        return "−0" if math.copysign(1.0, v) < 0 else "+0"
    return fmt_number(v)


def table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    """Cells are HTML already."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


# ============================================================================ page shell
def page(title: str, body: str, functions) -> str:
    nav_functions = " ".join(f'<a href="{n}.html">{esc(n)}</a>' for n in functions)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)} · sgblend-spec</title>
<link rel="stylesheet" href="style.css">
</head>
<body>
<header>
<nav class="top"><a class="home" href="index.html">sgblend-spec</a>
<a href="tolerance.html">Accuracy contract</a> <a href="accuracy.html">Measured accuracy</a>
<a href="speed.html">Speed</a> <a href="api.html">API</a> <a href="examples.html">Examples</a></nav>
<nav class="functions">{nav_functions}</nav>
</header>
<main>
{body}
</main>
<footer>Generated by <code>docs/build.py</code> from the records in <code>sgblend_spec/spec.py</code>,
the NumPy reference, the conformance results and the benchmark results. Do not edit the HTML.</footer>
</body>
</html>
"""


# ============================================================================ function pages
#: FunctionSpec / Parameter fields and where this builder renders them. A field added to a
#: record without being added here fails the build, so the site cannot silently fall behind.
RENDERED_FUNCTION_FIELDS = {
    "name", "title", "summary", "params", "latex", "at_zero", "limits", "identities",
    "extrema", "decisions", "variants", "source", "training",
}
RENDERED_PARAMETER_FIELDS = {
    "name", "symbol", "domain", "default", "description", "constraint", "projection", "init", "reparam",
}
RENDERED_REPARAM_FIELDS = {"raw", "latex", "derivative_latex", "forward", "inverse", "derivative", "reason"}
RENDERED_RULE_FIELDS = {"name", "title", "latex", "derivation", "implementation"}


def check_spec_coverage(spec) -> None:
    for cls, rendered in (
        (spec.FunctionSpec, RENDERED_FUNCTION_FIELDS),
        (spec.Parameter, RENDERED_PARAMETER_FIELDS),
        (spec.Reparam, RENDERED_REPARAM_FIELDS),
        (spec.Rule, RENDERED_RULE_FIELDS),
    ):
        missing = {f.name for f in dataclasses.fields(cls)} - rendered
        if missing:
            raise BuildError(f"docs/build.py does not render {cls.__name__} field(s) {sorted(missing)}")
    for name, record in spec.FUNCTIONS.items():
        for label, text in plain_text_fields(record):
            if TEX_COMMAND.search(text):
                raise BuildError(
                    f"{name}.{label} is shown as plain text but contains TeX: {text!r} "
                    "(LaTeX belongs in the latex fields; write this one in Unicode)"
                )
        if name in FIXED_PAGES:
            raise BuildError(f"spec function {name!r} collides with the site page {name}.html")
        if set(record.latex) != set(record.quantities):
            raise BuildError(
                f"{name}: latex keys {sorted(record.latex)} differ from its quantities {record.quantities}"
            )


TEX_COMMAND = re.compile(r"\\[A-Za-z,;!]")


def plain_text_fields(record):
    """(label, text) of every record field the site shows as text rather than as math."""
    yield "title", record.title
    yield "summary", record.summary
    yield "extrema", record.extrema
    yield "source", record.source
    for i, d in enumerate(record.decisions):
        yield f"decisions[{i}]", d
    for v in record.variants:
        yield f"variants[{v.name}].description", v.description
    for ident in record.identities:
        yield f"identities[{ident.latex!r}].note", ident.note
    for p in record.params:
        yield f"params[{p.name}].description", p.description
        yield f"params[{p.name}].init", p.init
        if p.reparam:
            yield f"params[{p.name}].reparam.reason", p.reparam.reason
    for rule in record.training:
        yield f"training[{rule.name}].title", rule.title
        yield f"training[{rule.name}].derivation", rule.derivation


def quantity_label(record, quantity: str) -> str:
    """The quantity as MathML: f, ∂f/∂x, ∂f/∂p, ∂²f/∂x²."""
    latex = {
        "value": r"f",
        "x": r"\partial_x f",
        "dxx": r"\partial_x^2 f",
    }.get(quantity)
    if latex is None:
        latex = r"\partial_{" + record.parameter(quantity).symbol + "} f"
    return math_html(latex)


def mpl_label(record, quantity: str) -> str:
    """The same label in matplotlib mathtext (rendered into the SVG, not the HTML)."""
    if quantity == "value":
        return r"$f(x)$"
    if quantity == "x":
        return r"$\partial f/\partial x$"
    if quantity == "dxx":
        return r"$\partial^2 f/\partial x^2$"
    return r"$\partial f/\partial " + record.parameter(quantity).symbol + "$"


def plot_values(parameter) -> list[float]:
    """A few values of one parameter to draw, from its record: the default, values around it
    (scaled for a positive parameter, shifted otherwise) and the closed finite ends of the
    interval a layer keeps it in (else of its domain)."""
    interval = parameter.constraint or parameter.domain
    d = parameter.default
    if interval.lo >= 0 and d > 0:
        candidates = [d * s for s in (0.5, 1, 2, 4)]
    else:
        candidates = [d + s for s in (-1, -0.5, 0, 0.5, 1)]
    for end, closed in ((interval.lo, interval.lo_closed), (interval.hi, interval.hi_closed)):
        if closed and math.isfinite(end):
            candidates.append(end)
    values = sorted({round(v, 6) for v in candidates if v in interval})
    return values


def draw_plots(record, reference, img_dir: Path) -> list[tuple[str, str, str]]:
    """One SVG per parameter (curves for several of its values, the others at their
    defaults), or one for a parameter-free function. Returns (file, alt, caption)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    matplotlib.rcParams.update({"svg.hashsalt": "sgblend-spec", "font.size": 9})
    x = np.linspace(-5.0, 5.0, 801)
    value_fn = getattr(reference, record.name)
    grad_fn = getattr(reference, record.name + "_grad")
    dxx_fn = getattr(reference, record.name + "_dxx")

    def curves(params):
        grads = grad_fn(x, **params)
        return {"value": value_fn(x, **params), **grads, "dxx": dxx_fn(x, **params)}

    sweeps = [(p, plot_values(p)) for p in record.params] or [(None, [None])]
    out = []
    quantities = record.quantities
    ncols = 3
    nrows = math.ceil(len(quantities) / ncols)
    for parameter, values in sweeps:
        fig, axes = plt.subplots(nrows, ncols, figsize=(9.6, 2.9 * nrows), squeeze=False)
        for v in values:
            params = dict(record.defaults)
            label = None
            if parameter is not None:
                params[parameter.name] = v
                label = f"${parameter.symbol} = {v:.3g}$"
            data = curves(params)
            for ax, q in zip(axes.flat, quantities):
                ax.plot(x, np.asarray(data[q], dtype=np.float64), lw=1.4, label=label)
        for ax, q in zip(axes.flat, quantities):
            ax.set_title(mpl_label(record, q))
            ax.axhline(0, color="0.75", lw=0.6, zorder=0)
            ax.axvline(0, color="0.75", lw=0.6, zorder=0)
            ax.set_xlabel("$x$")
            ax.grid(alpha=0.25)
        for ax in list(axes.flat)[len(quantities):]:
            ax.set_visible(False)
        if parameter is not None:
            axes.flat[0].legend(fontsize=8, loc="upper left")
        fig.tight_layout()
        suffix = parameter.name if parameter is not None else "plot"
        file = f"{record.name}-{suffix}.svg"
        fig.savefig(img_dir / file, format="svg", metadata={"Date": None})
        plt.close(fig)
        if parameter is None:
            caption = "Value and derivatives on [−5, 5]."
        else:
            others = [p for p in record.params if p is not parameter]
            fixed = ", ".join(f"{p.name} = {p.default:g}" for p in others)
            caption = (
                f"Varying {parameter.name} over {', '.join(f'{v:.3g}' for v in values)}"
                + (f" ({fixed} at their defaults)" if fixed else "")
                + "; value and every derivative on [−5, 5], from the NumPy reference in float64."
            )
        out.append((file, f"{record.name}: value and derivatives, varying {suffix}", caption))
    return out


def parameters_html(record) -> str:
    if not record.params:
        return "<p>No parameters.</p>"
    rows = []
    for p in record.params:
        rows.append([
            f"{math_html(p.symbol)} <code>{esc(p.name)}</code>",
            esc(p.description),
            f"<code>{esc(p.domain)}</code>",
            esc(fmt_number(p.default)),
            (f"<code>{esc(p.constraint)}</code>: {esc(p.projection)}") if p.constraint else "none",
            esc(p.init) if p.init else "—",
        ])
    parts = [table(
        ["Parameter", "Meaning", "Domain (function accepts)", "Default", "Layer constraint (after each step)",
         "Layer initialiser"],
        rows, "params",
    )]
    for p in record.params:
        r = p.reparam
        if r is None:
            continue
        if r.raw == p.name:
            # the parameter itself is the raw value; the map gives the quantity the formula uses
            title = f"<code>{esc(p.name)}</code> is a raw parameter"
            at_default = (
                f"At the default {esc(p.name)} = {esc(fmt_number(p.default))} the map gives "
                f"{esc(fmt_number(r.forward(p.default)))}, with derivative "
                f"{esc(fmt_number(r.derivative(p.default)))}."
            )
        else:
            raw_default = r.inverse(p.default)
            title = f"<code>{esc(p.name)}</code> is trained through <code>{esc(r.raw)}</code>"
            at_default = (
                f"The default {esc(p.name)} = {esc(fmt_number(p.default))} is "
                f"{esc(r.raw)} = {esc(fmt_number(raw_default))}, where "
                f"d{esc(p.name)}/d{esc(r.raw)} = {esc(fmt_number(r.derivative(raw_default)))}."
            )
        parts.append(
            f'<div class="reparam"><h3>Reparameterisation: {title}</h3>'
            f"{math_html(r.latex, display=True)}{math_html(r.derivative_latex, display=True)}"
            f"<p>Why: {esc(r.reason)}.</p><p>{at_default}</p></div>"
        )
    return "\n".join(parts)


def special_values_html(record) -> str:
    rows_by_x: dict[str, dict[str, float]] = {}
    order: list[str] = []
    for x, q, v in record.special_values(record.defaults):
        key = fmt_x(x)
        if key not in rows_by_x:
            rows_by_x[key] = {}
            order.append(key)
        rows_by_x[key][q] = v
    header = ["x"] + [quantity_label(record, q) for q in record.quantities]
    rows = [[esc(k)] + [esc(fmt_number(rows_by_x[k][q])) if q in rows_by_x[k] else "—"
                        for q in record.quantities] for k in order]
    at = ", ".join(f"{p.name} = {fmt_number(p.default)}" for p in record.params)
    intro = f"<p>At the defaults ({esc(at)}); the rows at ±∞ are limits.</p>" if at else \
        "<p>The rows at ±∞ are limits.</p>"
    return intro + table(header, rows, "special")


def identities_html(record) -> str:
    rows = []
    for ident in record.identities:
        mark = '<span class="yes">holds</span>' if ident.holds else '<span class="no">does not hold</span>'
        rows.append([math_html(ident.latex), mark, esc(ident.note)])
    return table(["Identity", "", "Note"], rows, "identities") if rows else "<p>None recorded.</p>"


def function_page(record, spec, plots, accuracy_html: str) -> str:
    s = [f"<h1>{esc(record.title)} <code>{esc(record.name)}</code></h1>",
         f'<p class="summary">{esc(record.summary)}</p>']
    s.append("<h2>Definition</h2>" + math_html(record.latex["value"], display=True))
    s.append("<h2>Derivatives</h2>")
    rows = [[quantity_label(record, q), math_html(record.latex[q], display=True)]
            for q in record.quantities if q != "value"]
    s.append(table(["", "Formula"], rows, "derivatives"))
    s.append(
        "<p>Notation: " + math_html(r"\sigma(z) = 1/(1+e^{-z})") + ", "
        + math_html(r"\bar\sigma(z) = \sigma(-z)") + ", "
        + math_html(r"\varphi(z) = e^{-z^2/2}/\sqrt{2\pi}") + ", "
        + math_html(r"\Phi(z) = \tfrac12\operatorname{erfc}(-z/\sqrt2)") + ".</p>"
    )
    s.append("<h2>Parameters</h2>" + parameters_html(record))
    s.append("<h2>Plots</h2>")
    for file, alt, caption in plots:
        s.append(f'<figure><img src="img/{esc(file)}" alt="{esc(alt)}"><figcaption>{esc(caption)}</figcaption></figure>')
    s.append("<h2>Special values</h2>" + special_values_html(record))
    s.append("<h2>Extrema</h2>" + (f"<p>{esc(record.extrema)}</p>" if record.extrema else "<p>Not recorded.</p>"))
    s.append("<h2>Identities</h2>" + identities_html(record))
    s.append("<h2>Spec decisions</h2>")
    s.append("<ul>" + "".join(f"<li>{esc(d)}</li>" for d in record.decisions) + "</ul>"
             if record.decisions else "<p>None beyond the definition.</p>")
    if record.variants:
        rows = [[f"<code>{esc(v.name)}</code>", esc(v.description),
                 f'<a href="{esc(v.function)}.html"><code>{esc(v.function)}</code></a>'] for v in record.variants]
        s.append("<h2>Variants</h2>" + table(["Variant", "Description", "Evaluates"], rows, "variants"))
    if record.training:
        s.append("<h2>Training recipe</h2>" + "".join(
            f'<div class="rule" id="training-{esc(r.name)}"><h3>{esc(r.title)}</h3>'
            f"{math_html(r.latex, display=True)}<p>{esc(r.derivation)}</p>"
            f"<p>Implemented by <code>{esc(r.implementation)}</code>.</p></div>" for r in record.training))
    s.append("<h2>Source</h2>" + (f"<p>{esc(record.source)}</p>" if record.source else
                                  "<p>Standard definition; no single source.</p>"))
    s.append("<h2>Measured accuracy</h2>" + accuracy_html)
    s.append('<p>The bounds are the <a href="tolerance.html">accuracy contract</a>.</p>')
    return "\n".join(s)


# ============================================================================ accuracy
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


def _ulp_text(value) -> str:
    return "∞" if value == "inf" else f"{float(value):.3g}"


def _ulp_cell(entry: dict) -> str:
    if entry is None or not entry.get("supported", True) or entry["max_ulp"] is None:
        return '<span class="na">n/a</span>'
    text = _ulp_text(entry["max_ulp"])
    cls = "pass" if entry["passed"] else "fail"
    title = f"{entry['points']} points, bound {entry['bound']} ULP"
    return f'<span class="{cls}" title="{esc(title)}">{esc(text)}</span> <span class="bound">[{entry["bound"]}]</span>'


def function_accuracy_html(record, results, spec) -> str:
    if not results:
        return NO_RESULTS
    rows = []
    for backend, report in results:
        entries = {(e["dtype"], e["quantity"]): e for e in report["entries"] if e["function"] == record.name}
        for dtype in spec.DTYPES:
            if not any(d == dtype for d, _ in entries):
                continue
            rows.append([f"<code>{esc(backend)}</code>", esc(dtype)]
                        + [_ulp_cell(entries.get((dtype, q))) for q in record.quantities])
    if not rows:
        return "<p>No conformance result covers this function.</p>"
    return ("<p>Max error in ULPs (bound in brackets; red = over the bound).</p>"
            + table(["Backend", "dtype"] + [quantity_label(record, q) for q in record.quantities], rows, "accuracy"))


def accuracy_page(results, spec) -> str:
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
            cells = [_worst_cell([e for e in report["entries"] if e["function"] == name and e["dtype"] == d])
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
              esc(_ulp_text(e["max_ulp"])), esc(e["bound"]), f"<code>{esc(e.get('worst', ''))}</code>"] for b, e in failures],
            "failures",
        ))
    else:
        s.append("<p>None: every measured entry is within its bound.</p>")
    return "\n".join(s)


def _worst_cell(entries: list[dict]) -> str:
    measured = [e for e in entries if e.get("supported", True) and e["max_ulp"] is not None]
    if not measured:
        return '<span class="na">n/a</span>'

    def ratio(e):
        v = math.inf if e["max_ulp"] == "inf" else float(e["max_ulp"])
        return v / e["bound"] if e["bound"] else v

    worst = max(measured, key=ratio)
    cell = _ulp_cell(worst)
    failed = sum(not e["passed"] for e in measured)
    return cell + (f' <span class="fail">({failed} over)</span>' if failed else "")


# ============================================================================ speed
NO_BENCHMARKS = (
    '<p class="note">No benchmark results in this build. Run <code>nox -s bench</code> first: it '
    "writes <code>benchmarks/results/BACKEND.json</code>, which this page renders.</p>"
)


def _ratio_cell(ratio, ms) -> str:
    if ratio is None:
        return '<span class="na">—</span>'
    return f'{ratio:.2f}× <span class="bound">({ms:.1f} ms)</span>'


def speed_page(results: list[dict]) -> str:
    """The benchmark JSON of every backend (benchmarks/harness.py writes them) as tables."""
    s = ["<h1>Measured speed</h1>",
         "<p>Time of each function as a ratio to the framework's own exact GELU, measured in the "
         "same process on float32 input (median of repeated runs; milliseconds in brackets). "
         "fwd+bwd includes the gradients in every parameter. Saved: the bytes autograd keeps from "
         "forward to backward. Reference rows are not conformant: they price the float64 "
         "evaluation that the accuracy bounds need.</p>"]
    if not results:
        return "\n".join(s) + NO_BENCHMARKS
    for r in results:
        s.append(f'<h2 id="speed-{esc(r["backend"])}">{esc(r["backend"])}</h2>'
                 f"<p>{esc(r['framework'])}; {esc(r['mode'])}; {esc(r['machine'])}, {esc(r['threads'])} threads; "
                 f"ratios to <code>{esc(r['baseline'])}</code>.</p>")
        for run in r["runs"]:
            rows = []
            for row in run["rows"]:
                name = (f'<a href="{esc(row["name"])}.html"><code>{esc(row["name"])}</code></a>'
                        if row["kind"] == "spec" else esc(row["name"]))
                saved = "—" if row["saved_bytes"] is None else f"{row['saved_bytes'] / 2**20:.1f} MiB"
                rows.append([name, esc(row["kind"]), _ratio_cell(row["fwd_ratio"], row["fwd_ms"]),
                             _ratio_cell(row["fwd_bwd_ratio"], row["fwd_bwd_ms"]), esc(saved)])
            s.append(f"<h3>{run['numel']:,} elements</h3>"
                     + table(["Function", "Kind", "fwd", "fwd+bwd", "Saved"], rows, "speed"))
        notes = {row["name"]: row["note"] for run in r["runs"] for row in run["rows"] if row["note"]}
        s.append("<ul>" + "".join(f"<li>{esc(k)}: {esc(v)}</li>" for k, v in notes.items()) + "</ul>")
    return "\n".join(s)


# ============================================================================ tolerance page
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
        raise BuildError(f"docs/build.py does not render Clause field(s) {sorted(missing)}")
    for c in spec.INPUT_CONTRACT:
        for label, text in (("rule", c.rule), ("error", c.error), ("reason", c.reason)):
            if TEX_COMMAND.search(text):
                raise BuildError(f"INPUT_CONTRACT[{c.key}].{label} contains TeX: {text!r}")
    rows = [[f'<code id="contract-{esc(c.key)}">{esc(c.key)}</code>', esc(c.subject), esc(c.rule),
             esc(c.error) or "—", esc(c.reason)] for c in spec.INPUT_CONTRACT]
    return ('<h2 id="input-contract">Input and parameter contract (<code>spec.INPUT_CONTRACT</code>)</h2>'
            "<p>The same in every backend; each backend's <code>tests/*/test_reliability.py</code> and the "
            "conformance suite check it.</p>"
            + table(["Clause", "Applies to", "Behaviour", "Error", "Why"], rows, "contract"))


# ============================================================================ API reference
def _members(module) -> list[tuple[str, object]]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, v in vars(module).items()
                 if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__
                 and (inspect.isfunction(v) or inspect.isclass(v))]
    return [(n, getattr(module, n)) for n in names]


def _signature(obj) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(…)"


def api_entry(name: str, obj, anchor_prefix: str) -> str:
    anchor = f"{anchor_prefix}.{name}"
    if inspect.isclass(obj):
        head = f'<h4 id="{esc(anchor)}"><code>class {esc(name)}{esc(_signature(obj))}</code></h4>'
        methods = []
        for mname, member in vars(obj).items():
            if mname.startswith("_"):
                continue
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if isinstance(member, property):
                methods.append(f"<dt><code>{esc(mname)}</code> (property)</dt><dd>{doc_html(member.__doc__)}</dd>")
            elif inspect.isfunction(member):
                methods.append(f"<dt><code>{esc(mname)}{esc(_signature(member))}</code></dt>"
                               f"<dd>{doc_html(member.__doc__)}</dd>")
        return head + doc_html(obj.__doc__) + (f"<dl>{''.join(methods)}</dl>" if methods else "")
    if callable(obj):
        return f'<h4 id="{esc(anchor)}"><code>{esc(name)}{esc(_signature(obj))}</code></h4>{doc_html(obj.__doc__)}'
    return f'<h4 id="{esc(anchor)}"><code>{esc(name)}</code></h4><p><code>{esc(_short_repr(obj))}</code></p>'


def _short_repr(obj) -> str:
    text = repr(obj)
    return text if len(text) <= 160 else text[:157] + "…"


def module_html(module, title: str) -> str:
    entries = "".join(api_entry(n, o, module.__name__) for n, o in _members(module))
    return f'<section class="module"><h2 id="{esc(module.__name__)}">{esc(title)}</h2>{doc_html(module.__doc__)}{entries}</section>'


def backend_from_source(name: str, path: Path) -> str:
    """A backend whose framework is not installed: its public API read from the source."""
    tree = ast.parse(path.read_text())
    public = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
            try:
                public = {v for v in ast.literal_eval(node.value) if isinstance(v, str)}
            except ValueError:
                public = None  # __all__ built from expressions: fall back to the leading-underscore rule
    parts = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.ClassDef)) or node.name.startswith("_"):
            continue
        if public is not None and node.name not in public:
            continue
        if isinstance(node, ast.FunctionDef):
            parts.append(f"<h4><code>{esc(node.name)}({esc(ast.unparse(node.args))})</code></h4>"
                         + doc_html(ast.get_docstring(node)))
        else:
            init = next((b for b in node.body if isinstance(b, ast.FunctionDef) and b.name == "__init__"), None)
            args = ast.unparse(init.args).removeprefix("self, ").removeprefix("self") if init else ""
            methods = "".join(
                f"<dt><code>{esc(b.name)}({esc(ast.unparse(b.args))})</code></dt><dd>{doc_html(ast.get_docstring(b))}</dd>"
                for b in node.body if isinstance(b, ast.FunctionDef) and not b.name.startswith("_")
            )
            parts.append(f"<h4><code>class {esc(node.name)}({esc(args)})</code></h4>"
                         + doc_html(ast.get_docstring(node)) + (f"<dl>{methods}</dl>" if methods else ""))
    return doc_html(ast.get_docstring(tree)) + "".join(parts)


def import_backend(name: str):
    """The backend module, or None when its framework (or the installed package) is missing."""
    try:
        with warnings.catch_warnings():
            # a framework's own import-time warnings are not this build's
            warnings.simplefilter("ignore")
            importlib.import_module(name)
    except ImportError:
        return None
    try:
        return importlib.import_module(f"sgblend_spec.backends.{name}")
    except ModuleNotFoundError as error:
        if error.name and error.name.startswith("sgblend_spec.backends"):
            return None  # project not installed (only on sys.path): backends are not a package here
        raise


def api_page(spec) -> str:
    from sgblend_spec import formulas, hardening, reference

    s = ["<h1>API reference</h1>",
         "<p>Generated from the docstrings. Contents: "
         '<a href="#sgblend_spec.reference">NumPy reference</a>, '
         '<a href="#sgblend_spec.spec">spec records</a>, '
         '<a href="#sgblend_spec.formulas">formulas</a>, '
         '<a href="#sgblend_spec.hardening">λ-GELU training recipe</a>, '
         + ", ".join(f'<a href="#backend-{b}">{b} backend</a>' for b in BACKENDS) + ".</p>",
         module_html(reference, "sgblend_spec.reference — the NumPy reference"),
         module_html(spec, "sgblend_spec.spec — the specification records"),
         module_html(formulas, "sgblend_spec.formulas — the stable formulas"),
         module_html(hardening, "sgblend_spec.hardening — the λ-GELU training recipe")]
    for name in BACKENDS:
        title = f"sgblend_spec.backends.{name}"
        module = import_backend(name)
        source = ROOT / "backends" / f"{name}.py"
        if module is not None:
            body = doc_html(module.__doc__) + "".join(api_entry(n, o, module.__name__) for n, o in _members(module))
            note = ""
        elif source.exists():
            body = backend_from_source(name, source)
            note = (f'<p class="note">{esc(name)} is not installed in this build: this section is read '
                    "from the backend's source (signatures as written, defaults unevaluated).</p>")
        else:
            body = ""
            note = '<p class="note">Not installed in this build, and not present in this checkout.</p>'
        s.append(f'<section class="module"><h2 id="backend-{name}">{esc(title)}</h2>{note}{body}</section>')
    return "\n".join(s)


# ============================================================================ examples
def example_files() -> list[Path]:
    return sorted((DOCS / "examples").glob("*.py"))


def example_requirement(path: Path) -> str | None:
    """The framework an example needs, from its '# requires: NAME' line (None: NumPy only)."""
    for line in path.read_text().splitlines():
        m = re.match(r"#\s*requires:\s*(\S+)", line)
        if m:
            return m.group(1)
    return None


def examples_page() -> str:
    s = ["<h1>Usage examples</h1>",
         "<p>Each example below is a script in <code>docs/examples/</code> that the test suite "
         "runs (<code>tests/docs/test_examples.py</code>) wherever its framework is installed.</p>"]
    for path in example_files():
        module = ast.parse(path.read_text())
        need = example_requirement(path)
        s.append(f'<h2 id="{esc(path.stem)}"><code>{esc(path.name)}</code></h2>'
                 + doc_html(ast.get_docstring(module))
                 + f"<p>Needs: {esc(need or 'NumPy only')}.</p>"
                 + f"<pre>{esc(path.read_text())}</pre>")
    return "\n".join(s)


# ============================================================================ index
def index_page(spec) -> str:
    rows = []
    for name, r in spec.FUNCTIONS.items():
        params = ", ".join(f"{p.name} = {fmt_number(p.default)}" for p in r.params) or "—"
        rows.append([f'<a href="{name}.html"><code>{esc(name)}</code></a>', esc(r.title),
                     math_html(r.latex["value"]), esc(params)])
    import sgblend_spec

    return "\n".join([
        f"<h1>sgblend-spec {esc(sgblend_spec.__version__)}: the formula reference</h1>",
        doc_html(sgblend_spec.__doc__),
        "<h2>Functions</h2>",
        table(["Name", "Function", "Definition", "Defaults"], rows, "index"),
        "<h2>Also here</h2><ul>"
        '<li><a href="tolerance.html">The accuracy contract and tolerance model</a></li>'
        '<li><a href="tolerance.html#input-contract">The input and parameter contract</a></li>'
        '<li><a href="accuracy.html">Measured accuracy of every backend</a></li>'
        '<li><a href="speed.html">Measured speed, as ratios to each framework\'s native GELU</a></li>'
        '<li><a href="api.html">API reference</a></li>'
        '<li><a href="examples.html">Usage examples (NumPy, PyTorch, Keras, JAX)</a></li></ul>',
    ])


# ============================================================================ driver
def build(out: Path, results_dir: Path, bench_dir: Path = ROOT / "benchmarks" / "results") -> list[Path]:
    """Write the site into ``out`` (emptied first). Returns the pages written."""
    from benchmarks import harness
    from sgblend_spec import reference, spec

    check_spec_coverage(spec)
    if out.exists():
        shutil.rmtree(out)
    (out / "img").mkdir(parents=True)
    shutil.copy(DOCS / "style.css", out / "style.css")
    results = load_results(results_dir)
    functions = list(spec.FUNCTIONS)
    pages = {
        "index": ("sgblend-spec", index_page(spec)),
        "tolerance": ("Accuracy contract", tolerance_page(spec)),
        "accuracy": ("Measured accuracy", accuracy_page(results, spec)),
        "speed": ("Measured speed", speed_page(harness.load(bench_dir))),
        "api": ("API reference", api_page(spec)),
        "examples": ("Examples", examples_page()),
    }
    for name, record in spec.FUNCTIONS.items():
        plots = draw_plots(record, reference, out / "img")
        pages[name] = (record.title, function_page(record, spec, plots, function_accuracy_html(record, results, spec)))
    written = []
    for name, (title, body) in pages.items():
        path = out / f"{name}.html"
        path.write_text(page(title, body, functions), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS / "_site", help="output folder (emptied first)")
    parser.add_argument("--results", type=Path, default=ROOT / "conformance-results",
                        help="folder of conformance JSON reports")
    parser.add_argument("--bench", type=Path, default=ROOT / "benchmarks" / "results",
                        help="folder of benchmark JSON results (nox -s bench)")
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        written = build(args.out.resolve(), args.results.resolve(), args.bench.resolve())
    print(f"wrote {len(written)} pages to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
