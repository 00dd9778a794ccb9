"""One page per spec function, every field of its record rendered: definition, derivatives,
parameters and reparameterisations, plots, special values, extrema, identities, decisions,
variants, the training recipe (λ-GELU), source and measured accuracy."""

from __future__ import annotations

import dataclasses

from .common import FIXED_PAGES, TEX_COMMAND, BuildError, esc, fmt_number, fmt_x, math_html, table

#: FunctionSpec / Parameter / Reparam / Rule fields this module renders. A field added to a
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
    """Fail the build on a record field this module does not render, on TeX in a field shown
    as plain text, or on a function name that collides with a fixed page."""
    for cls, rendered in (
        (spec.FunctionSpec, RENDERED_FUNCTION_FIELDS),
        (spec.Parameter, RENDERED_PARAMETER_FIELDS),
        (spec.Reparam, RENDERED_REPARAM_FIELDS),
        (spec.Rule, RENDERED_RULE_FIELDS),
    ):
        missing = {f.name for f in dataclasses.fields(cls)} - rendered
        if missing:
            raise BuildError(f"docs/docsite/function_pages.py does not render {cls.__name__} field(s) {sorted(missing)}")
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


def plain_text_fields(record):
    """(label, text) of every record field the site shows as text rather than as math."""
    yield "title", record.title
    yield "summary", record.summary
    yield "extrema", record.extrema
    yield "source", record.source
    for i, decision in enumerate(record.decisions):
        yield f"decisions[{i}]", decision
    for variant in record.variants:
        yield f"variants[{variant.name}].description", variant.description
    for identity in record.identities:
        yield f"identities[{identity.latex!r}].note", identity.note
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


def parameters_html(record) -> str:
    """The parameter table, then one box per reparameterised parameter."""
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
        reparam = p.reparam
        if reparam is None:
            continue
        if reparam.raw == p.name:
            # the parameter itself is the raw value; the map gives the quantity the formula uses
            title = f"<code>{esc(p.name)}</code> is a raw parameter"
            at_default = (
                f"At the default {esc(p.name)} = {esc(fmt_number(p.default))} the map gives "
                f"{esc(fmt_number(reparam.forward(p.default)))}, with derivative "
                f"{esc(fmt_number(reparam.derivative(p.default)))}."
            )
        else:
            raw_default = reparam.inverse(p.default)
            title = f"<code>{esc(p.name)}</code> is trained through <code>{esc(reparam.raw)}</code>"
            at_default = (
                f"The default {esc(p.name)} = {esc(fmt_number(p.default))} is "
                f"{esc(reparam.raw)} = {esc(fmt_number(raw_default))}, where "
                f"d{esc(p.name)}/d{esc(reparam.raw)} = {esc(fmt_number(reparam.derivative(raw_default)))}."
            )
        parts.append(
            f'<div class="reparam"><h3>Reparameterisation: {title}</h3>'
            f"{math_html(reparam.latex, display=True)}{math_html(reparam.derivative_latex, display=True)}"
            f"<p>Why: {esc(reparam.reason)}.</p><p>{at_default}</p></div>"
        )
    return "\n".join(parts)


def special_values_html(record) -> str:
    """Value and derivatives at the record's special points, at the default parameters."""
    rows_by_x: dict[str, dict[str, float]] = {}
    order: list[str] = []
    for x, quantity, value in record.special_values(record.defaults):
        key = fmt_x(x)
        if key not in rows_by_x:
            rows_by_x[key] = {}
            order.append(key)
        rows_by_x[key][quantity] = value
    header = ["x"] + [quantity_label(record, q) for q in record.quantities]
    rows = [[esc(k)] + [esc(fmt_number(rows_by_x[k][q])) if q in rows_by_x[k] else "—"
                        for q in record.quantities] for k in order]
    at = ", ".join(f"{p.name} = {fmt_number(p.default)}" for p in record.params)
    intro = f"<p>At the defaults ({esc(at)}); the rows at ±∞ are limits.</p>" if at else \
        "<p>The rows at ±∞ are limits.</p>"
    return intro + table(header, rows, "special")


def identities_html(record) -> str:
    rows = []
    for identity in record.identities:
        mark = '<span class="yes">holds</span>' if identity.holds else '<span class="no">does not hold</span>'
        rows.append([math_html(identity.latex), mark, esc(identity.note)])
    return table(["Identity", "", "Note"], rows, "identities") if rows else "<p>None recorded.</p>"


def training_recipe_html(record) -> str:
    """The record's training rules (λ-GELU's target, schedule and update), one box each."""
    return "<h2>Training recipe</h2>" + "".join(
        f'<div class="rule" id="training-{esc(rule.name)}"><h3>{esc(rule.title)}</h3>'
        f"{math_html(rule.latex, display=True)}<p>{esc(rule.derivation)}</p>"
        f"<p>Implemented by <code>{esc(rule.implementation)}</code>.</p></div>" for rule in record.training)


def function_page(record, spec, plots, accuracy_html: str) -> str:
    """The body of NAME.html. ``plots``: (file, alt, caption) from plots.draw_plots;
    ``accuracy_html``: the measured-accuracy section (accuracy.function_accuracy_html)."""
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
        s.append(training_recipe_html(record))
    s.append("<h2>Source</h2>" + (f"<p>{esc(record.source)}</p>" if record.source else
                                  "<p>Standard definition; no single source.</p>"))
    s.append("<h2>Measured accuracy</h2>" + accuracy_html)
    s.append('<p>The bounds are the <a href="tolerance.html">accuracy contract</a>.</p>')
    return "\n".join(s)
