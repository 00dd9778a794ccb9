"""The index page (every function with its definition and defaults) and the usage examples
page (every ``docs/examples/*.py``, which ``tests/docs/test_examples.py`` runs)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from .common import DOCS, doc_html, esc, fmt_number, math_html, table


def index_page(spec, extra_pages=()) -> str:
    """index.html. ``extra_pages``: (file stem, title) of the docs/pages/*.html pages."""
    import sgblend_spec

    rows = []
    for name, record in spec.FUNCTIONS.items():
        params = ", ".join(f"{p.name} = {fmt_number(p.default)}" for p in record.params) or "—"
        rows.append([f'<a href="{name}.html"><code>{esc(name)}</code></a>', esc(record.title),
                     math_html(record.latex["value"]), esc(params)])
    extra = "".join(f'<li><a href="{esc(stem)}.html">{esc(title)}</a></li>' for stem, title in extra_pages)
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
        '<li><a href="examples.html">Usage examples (NumPy, PyTorch, Keras, JAX)</a></li>'
        f"{extra}</ul>",
    ])


def example_files() -> list[Path]:
    return sorted((DOCS / "examples").glob("*.py"))


def example_requirement(path: Path) -> str | None:
    """The framework an example needs, from its '# requires: NAME' line (None: NumPy only)."""
    for line in path.read_text().splitlines():
        match = re.match(r"#\s*requires:\s*(\S+)", line)
        if match:
            return match.group(1)
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
