"""What every page shares: the HTML skeleton and navigation, LaTeX → MathML, docstring →
HTML, number formatting and tables."""

from __future__ import annotations

import html
import inspect
import math
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent
ROOT = DOCS.parent

BACKENDS = ("torch", "tensorflow", "jax")
#: Pages that are not function pages (a spec function may not take one of these names).
FIXED_PAGES = ("index", "tolerance", "accuracy", "speed", "api", "examples")
#: A TeX command in text meant to be plain (LaTeX belongs in the records' latex fields).
TEX_COMMAND = re.compile(r"\\[A-Za-z,;!]")


class BuildError(RuntimeError):
    """The site cannot be built faithfully (e.g. a spec field the builder does not render)."""


# ----------------------------------------------------------------------------- text
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


_INLINE_MARKUP = [
    (re.compile(r":[a-z]+:`~?([^`]+)`"), r"<code>\1</code>"),  # :mod:`x`, :class:`x`
    (re.compile(r"``([^`]+)``"), r"<code>\1</code>"),
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])"), r"<em>\1</em>"),  # *emphasis*
]


def inline_doc(text: str) -> str:
    """One line of docstring text as HTML (code spans, roles, emphasis)."""
    out = esc(text)
    for pattern, replacement in _INLINE_MARKUP:
        out = pattern.sub(replacement, out)
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
            parts.append("<ul>" + "".join(f"<li>{inline_doc(' '.join(item))}</li>" for item in items) + "</ul>")
            continue
        block = []
        while i < len(lines) and lines[i].strip() and not lines[i].lstrip().startswith("* "):
            block.append(lines[i].strip())
            i += 1
        text = " ".join(block)
        literal = text.endswith("::")
        if literal:
            text = text[:-1]
        if text != ":":  # a lone "::" introduces the block and is not shown (as in reST)
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
    """An input value: zeros carry their sign (+0, −0)."""
    if v == 0:
        return "−0" if math.copysign(1.0, v) < 0 else "+0"
    return fmt_number(v)


def table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    """Cells are HTML already."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


# ----------------------------------------------------------------------------- page skeleton
#: (file stem, link text) of the top navigation, before any docs/pages/*.html page.
TOP_NAV = (
    ("tolerance", "Accuracy contract"),
    ("accuracy", "Measured accuracy"),
    ("speed", "Speed"),
    ("api", "API"),
    ("examples", "Examples"),
)


def page(title: str, body: str, functions, extra_pages=()) -> str:
    """A whole HTML page. ``functions``: spec function names (second navigation row);
    ``extra_pages``: (file stem, title) of the docs/pages/*.html pages, added to the top row."""
    top = " ".join(f'<a href="{stem}.html">{esc(text)}</a>' for stem, text in (*TOP_NAV, *extra_pages))
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
{top}</nav>
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
