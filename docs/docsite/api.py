"""api.html: the API reference. The framework-free core modules (spec, formulas, gates, compensated, hardening)
are read by importing them; the NumPy reference and every backend are read from their
source (:mod:`.api_source`), so the page lists every public name of every backend whether
or not its framework is installed, and building it never imports a framework."""

from __future__ import annotations

import ast
import inspect

from . import api_signatures, api_source
from .common import BACKENDS, ROOT, doc_html, esc


# ----------------------------------------------------------------------------- imported modules
def members(module) -> list[tuple[str, object]]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, v in vars(module).items()
                 if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__
                 and (inspect.isfunction(v) or inspect.isclass(v))]
    return [(n, getattr(module, n)) for n in names]


def python_signature(obj, method: bool = False) -> str:
    """inspect's signature; for a method, without self/cls."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(…)"
    params = list(sig.parameters.values())
    if method and params and params[0].name in ("self", "cls"):
        sig = sig.replace(parameters=params[1:])
    return str(sig)


def short_repr(obj) -> str:
    text = repr(obj)
    return text if len(text) <= 160 else text[:157] + "…"


def api_entry(name: str, obj, anchor_prefix: str) -> str:
    anchor = f"{anchor_prefix}.{name}"
    if inspect.isclass(obj):
        head = f'<h4 id="{esc(anchor)}"><code>class {esc(name)}{esc(python_signature(obj))}</code></h4>'
        methods = []
        for method_name, member in vars(obj).items():
            if method_name.startswith("_"):
                continue
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if isinstance(member, property):
                methods.append(f"<dt><code>{esc(method_name)}</code> (property)</dt><dd>{doc_html(member.__doc__)}</dd>")
            elif inspect.isfunction(member):
                methods.append(f"<dt><code>{esc(method_name)}{esc(python_signature(member, method=True))}</code></dt>"
                               f"<dd>{doc_html(member.__doc__)}</dd>")
        return head + doc_html(obj.__doc__) + (f"<dl>{''.join(methods)}</dl>" if methods else "")
    if callable(obj):
        return f'<h4 id="{esc(anchor)}"><code>{esc(name)}{esc(python_signature(obj))}</code></h4>{doc_html(obj.__doc__)}'
    return f'<h4 id="{esc(anchor)}"><code>{esc(name)}</code></h4><p><code>{esc(short_repr(obj))}</code></p>'


def module_html(module, title: str) -> str:
    entries = "".join(api_entry(n, o, module.__name__) for n, o in members(module))
    return (f'<section class="module"><h2 id="{esc(module.__name__)}">{esc(title)}</h2>'
            f"{doc_html(module.__doc__)}{entries}</section>")


# ----------------------------------------------------------------------------- read from source
BINDING_DOCS = {
    "value": "{title}: {summary}.",
    "grad": "Partials of {name} in x and each parameter, per element: a dict keyed {partials}.",
    "dxx": "Second derivative of {name} in x.",
}


def source_entry_html(entry: api_source.Entry, anchor_prefix: str, spec) -> str:
    anchor = esc(f"{anchor_prefix}.{entry.name}")
    name = esc(entry.name)
    if entry.kind == "binding":
        record = spec.FUNCTIONS[entry.spec_name]
        doc = BINDING_DOCS[entry.binding_kind].format(
            title=record.title, summary=record.summary, name=entry.spec_name,
            partials=", ".join(repr(q) for q in record.quantities[1:-1]))
        return (f'<h4 id="{anchor}"><code>{name}{esc(api_signatures.binding_signature(entry, record))}</code></h4>'
                f'<p>{esc(doc)} Spec: <a href="{esc(record.name)}.html"><code>{esc(record.name)}</code></a>.</p>')
    if entry.kind == "def":
        return (f'<h4 id="{anchor}"><code>{name}{esc(api_signatures.signature(entry))}</code></h4>'
                + doc_html(ast.get_docstring(entry.node)))
    if entry.kind == "class":
        methods = []
        for node in entry.node.body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name.startswith("_"):
                continue
            decorators = {ast.unparse(d) for d in node.decorator_list}
            if decorators & {"property", "functools.cached_property", "cached_property"}:
                methods.append(f"<dt><code>{esc(node.name)}</code> (property)</dt>"
                               f"<dd>{doc_html(ast.get_docstring(node))}</dd>")
            elif not any(d.endswith((".setter", ".deleter")) for d in decorators):
                methods.append(f"<dt><code>{esc(node.name)}{esc(api_signatures.method_signature(entry.module, node))}"
                               f"</code></dt><dd>{doc_html(ast.get_docstring(node))}</dd>")
        return (f'<h4 id="{anchor}"><code>class {name}{esc(api_signatures.signature(entry))}</code></h4>'
                + doc_html(ast.get_docstring(entry.node)) + (f"<dl>{''.join(methods)}</dl>" if methods else ""))
    if entry.kind == "value":
        doc = api_signatures.comment_doc(entry)
        written = ast.unparse(entry.node.value)
        written = written if len(written) <= 160 else written[:157] + "…"
        return f'<h4 id="{anchor}"><code>{name}</code></h4>' + (doc_html(doc) or f"<p><code>{esc(written)}</code></p>")
    return f'<h4 id="{anchor}"><code>{name}</code></h4><p>Re-exported from <code>{esc(entry.origin)}</code>.</p>'


def source_section_html(dotted: str, spec) -> str:
    """The module's docstring, then its public names; for a package, grouped under the module
    that defines them (each with its docstring)."""
    module, entries = api_source.read_api(dotted)
    parts = [doc_html(module.docstring)]
    groups: dict[str, list[api_source.Entry]] = {}
    for entry in entries:
        groups.setdefault(entry.module.name if entry.module else module.name, []).append(entry)
    for defining, group in sorted(groups.items(), key=lambda item: _reading_order(item[0], list(groups))):
        if defining != module.name:
            submodule = api_source.load(defining)
            parts.append(f'<h3 id="{esc(defining)}"><code>{esc(defining)}</code></h3>'
                         + doc_html(submodule.docstring if submodule else None))
        parts.extend(source_entry_html(entry, dotted, spec) for entry in group)
    return "".join(parts)


#: A backend package's modules in the order a reader wants them (the rest after these).
READING_ORDER = ("functional", "layers", "nnx", "saving", "recipe", "numerics", "contract", "autodiff")


def _reading_order(module: str, appearance: list[str]) -> tuple[int, int]:
    job = module.rpartition(".")[2]
    return (READING_ORDER.index(job) if job in READING_ORDER else len(READING_ORDER), appearance.index(module))


def backend_html(name: str, spec) -> str:
    dotted = f"sgblend_spec.backends.{name}"
    path = api_source.source_path(dotted)
    if path is None:
        body = '<p class="note">Not present in this checkout.</p>'
    else:
        where = path.parent if path.name == "__init__.py" else path
        body = (f"<p>Read from the source (<code>{esc(where.relative_to(ROOT).as_posix())}</code>), so this "
                f"section is the same whether or not {esc(name)} is installed; signatures as written, "
                "with the spec's defaults.</p>" + source_section_html(dotted, spec))
    return f'<section class="module"><h2 id="backend-{name}">{esc(dotted)}</h2>{body}</section>'


def api_page(spec) -> str:
    from sgblend_spec import compensated, formulas, gates, hardening

    return "\n".join([
        "<h1>API reference</h1>",
        "<p>Generated from the docstrings. Contents: "
        '<a href="#sgblend_spec.reference">NumPy reference</a>, '
        '<a href="#sgblend_spec.spec">spec records</a>, '
        '<a href="#sgblend_spec.formulas">formulas</a>, '
        '<a href="#sgblend_spec.gates">gates</a>, '
        '<a href="#sgblend_spec.compensated">compensated arguments</a>, '
        '<a href="#sgblend_spec.hardening">λ-GELU training recipe</a>, '
        + ", ".join(f'<a href="#backend-{b}">{b} backend</a>' for b in BACKENDS) + ".</p>",
        '<section class="module"><h2 id="sgblend_spec.reference">sgblend_spec.reference — the NumPy reference</h2>'
        + source_section_html("sgblend_spec.reference", spec) + "</section>",
        module_html(spec, "sgblend_spec.spec — the specification records"),
        module_html(formulas, "sgblend_spec.formulas — the stable formulas"),
        module_html(gates, "sgblend_spec.gates — σ and Φ with their products"),
        module_html(compensated, "sgblend_spec.compensated — error-free transformations and two-term constants"),
        module_html(hardening, "sgblend_spec.hardening — the λ-GELU training recipe"),
        *(backend_html(name, spec) for name in BACKENDS),
    ])
