"""A module's public API read from its source with :mod:`ast`, never importing it, so the API
page is complete whatever frameworks are installed.

For a module (a backend package ``backends/<fw>/`` or the single file ``backends/<fw>.py``,
or ``sgblend_spec/reference.py``) the public names are its ``__all__``; each is followed
through the ``from .module import name`` lines to where it is written:

* ``def`` and ``class``: the signature as written (:mod:`.api_signatures`, which computes
  defaults that come from the spec records, e.g. ``DEFAULTS["swish"]["beta"]`` → ``1.0``), the
  docstring, public methods;
* a one-line binding ``name = _bind("spec_name"[, "value" | "grad" | "dxx"])`` (or a loop
  ``for _name in spec.FUNCTIONS: _bind(_name)``): documented from the spec record (signature
  with the spec defaults, title and summary);
* a name the module builds lazily (a module ``__getattr__``, e.g. the JAX package's Flax NNX
  layers in ``nnx.py``, or classes defined inside a builder function): found where it is
  defined in the package;
* any other assignment: its value as written, and its ``#:`` comment.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
from pathlib import Path
from types import SimpleNamespace

from .common import ROOT, BuildError

#: The kinds of a reference binding ``_bind(name, kind)``; backends bind the value only.
BINDING_KINDS = ("value", "grad", "dxx")


@dataclasses.dataclass(frozen=True)
class SourceModule:
    name: str  # dotted, as imported: sgblend_spec.backends.torch.layers
    path: Path
    tree: ast.Module

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"

    @property
    def package(self) -> str:
        return self.name if self.is_package else self.name.rpartition(".")[0]

    @property
    def docstring(self) -> str | None:
        return ast.get_docstring(self.tree)


@dataclasses.dataclass(frozen=True)
class Entry:
    """One public name and where its source is."""

    name: str
    kind: str  # "def", "class", "binding", "value" or "import" (re-exported from outside the project)
    module: SourceModule | None  # the module whose source defines it (None for "import")
    node: ast.AST | None = None  # the def/class, or the assignment
    spec_name: str = ""  # binding: the spec function it evaluates
    binding_kind: str = "value"  # binding: value, grad or dxx
    binder: str = ""  # binding: the function that makes it (e.g. _bind)
    origin: str = ""  # import: the module it comes from


def source_path(dotted: str) -> Path | None:
    """Where the source of ``dotted`` is in this checkout (packages before modules, as import
    finds them), or None outside the project. ``sgblend_spec.backends`` is ``backends/``."""
    parts = dotted.split(".")
    if parts[:2] == ["sgblend_spec", "backends"]:
        base, rest = ROOT / "backends", parts[2:]
    elif parts[0] == "sgblend_spec":
        base, rest = ROOT / "sgblend_spec", parts[1:]
    else:
        return None
    path = base.joinpath(*rest)
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


@functools.lru_cache(maxsize=None)
def load(dotted: str) -> SourceModule | None:
    path = source_path(dotted)
    if path is None:
        return None
    return SourceModule(dotted, path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))


def import_origin(module: SourceModule, node: ast.ImportFrom) -> str:
    """The absolute module name of a ``from X import ...`` line of ``module``."""
    if not node.level:
        return node.module or ""
    base = module.package.split(".")
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_names(module: SourceModule, anywhere: bool = False) -> dict[str, tuple[str, str | None]]:
    """local name → (module, attribute or None for a module) for the import lines of ``module``:
    those at module level, or with ``anywhere`` also those inside functions (lazy imports)."""
    nodes = ast.walk(module.tree) if anywhere else module.tree.body
    out: dict[str, tuple[str, str | None]] = {}
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    out[alias.asname] = (alias.name, None)
                else:
                    top = alias.name.partition(".")[0]
                    out[top] = (top, None)
        elif isinstance(node, ast.ImportFrom):
            origin = import_origin(module, node)
            for alias in node.names:
                if alias.name == "*":
                    continue
                submodule = f"{origin}.{alias.name}"
                target = (submodule, None) if source_path(submodule) else (origin, alias.name)
                out[alias.asname or alias.name] = target
    return out


# ----------------------------------------------------------------------------- __all__
def public_names(module: SourceModule) -> list[str]:
    """``__all__`` (evaluated from the source), else every public top-level def, class and
    assignment in source order."""
    names: list[str] | None = None
    for node in module.tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            names = list(_evaluate_names(module, node.value))
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id == "__all__":
            names = (names or []) + list(_evaluate_names(module, node.value))
    if names is not None:
        return list(dict.fromkeys(names))
    out = []
    for node in module.tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.append(node.name)
        elif isinstance(node, ast.Assign):
            out.extend(t.id for t in node.targets if isinstance(t, ast.Name))
    return [n for n in dict.fromkeys(out) if not n.startswith("_")]


def _evaluate_names(module: SourceModule, expression: ast.expr) -> list[str]:
    """An ``__all__`` expression: a literal list, or one built from ``spec.FUNCTIONS`` or from
    another module's ``__all__`` (``[*spec.FUNCTIONS, ...]``, ``[*functional.__all__, ...]``)."""
    try:
        return [str(n) for n in ast.literal_eval(expression)]
    except ValueError:
        pass
    namespace = {}
    imports = imported_names(module)
    for name in {n.id for n in ast.walk(expression) if isinstance(n, ast.Name)}:
        origin, attribute = imports.get(name, (None, None))
        if origin is None:
            continue
        if attribute is None and load(origin) is not None and not is_framework_free(origin):
            namespace[name] = SimpleNamespace(__all__=public_names(load(origin)))
        else:
            namespace[name] = framework_free_value(origin, attribute)
    try:
        value = eval(compile(ast.Expression(expression), str(module.path), "eval"), {"__builtins__": {}}, namespace)
    except Exception as error:  # noqa: BLE001 - any failure means the builder cannot read it
        raise BuildError(f"{module.path}: cannot read __all__ = {ast.unparse(expression)} ({error})") from error
    return [str(n) for n in value]


def is_framework_free(dotted: str) -> bool:
    """The project's core modules import no framework (the backends do)."""
    return dotted == "math" or (dotted.startswith("sgblend_spec") and not dotted.startswith("sgblend_spec.backends"))


def framework_free_value(origin: str, attribute: str | None):
    if not is_framework_free(origin):
        raise BuildError(f"the API reader does not import {origin} (it may import a framework)")
    module = importlib.import_module(origin)
    return module if attribute is None else getattr(module, attribute)


# ----------------------------------------------------------------------------- finding names
def find(module: SourceModule, name: str, seen: frozenset = frozenset()) -> Entry | None:
    """Where ``name``, public in ``module``, is written: its def/class/assignment, followed
    through imports; then (for a lazily built name) a definition elsewhere in the package."""
    if (module.name, name) in seen:
        return None
    seen = seen | {(module.name, name)}
    entry = _top_level(module, name)
    if entry is not None:
        return entry
    imports = imported_names(module)
    if name in imports:
        return _follow(module, *imports[name], name, seen)
    # lazily built: modules imported inside functions (a module __getattr__) first, then
    # every module of the package, then definitions nested in functions
    lazy = [origin for origin, attribute in imported_names(module, anywhere=True).values()
            if attribute is None and origin.startswith(module.package)]
    package_dir = module.path.parent
    siblings = [f"{module.package}.{p.stem}" for p in sorted(package_dir.glob("*.py")) if p.stem != "__init__"]
    for candidate in dict.fromkeys([*lazy, *siblings]) if module.is_package else ():
        other = load(candidate)
        if other is not None and other.name != module.name:
            entry = _top_level(other, name)
            if entry is not None:
                return entry
    for candidate in [module.name, *(siblings if module.is_package else ())]:
        other = load(candidate)
        for node in ast.walk(other.tree) if other is not None else ():
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
                return Entry(name, "class" if isinstance(node, ast.ClassDef) else "def", other, node)
    return None


def _follow(module: SourceModule, origin: str, attribute: str | None, name: str, seen: frozenset) -> Entry:
    target = load(origin)
    if attribute is None or target is None:
        return Entry(name, "import", None, origin=origin if attribute is None else f"{origin}.{attribute}")
    entry = find(target, attribute, seen)
    if entry is None:
        raise BuildError(f"{module.path}: imports {attribute} from {origin}, whose source does not define it")
    return entry if entry.name == name else dataclasses.replace(entry, name=name)


def _top_level(module: SourceModule, name: str) -> Entry | None:
    from sgblend_spec import spec

    for node in module.tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return Entry(name, "class" if isinstance(node, ast.ClassDef) else "def", module, node)
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if not any(isinstance(t, ast.Name) and t.id == name for t in targets):
                continue
            call = node.value
            if (isinstance(call, ast.Call) and call.args and isinstance(call.args[0], ast.Constant)
                    and call.args[0].value in spec.FUNCTIONS):
                kind = "value"
                kind_node = call.args[1] if len(call.args) > 1 else next(
                    (k.value for k in call.keywords if k.arg == "kind"), None)
                if isinstance(kind_node, ast.Constant) and kind_node.value in BINDING_KINDS:
                    kind = kind_node.value
                return Entry(name, "binding", module, node, spec_name=call.args[0].value, binding_kind=kind,
                             binder=getattr(call.func, "id", ""))
            return Entry(name, "value", module, node)
    return _bound_in_a_loop(module, name)


def _bound_in_a_loop(module: SourceModule, name: str) -> Entry | None:
    """A spec function bound by a loop such as ``for _name in spec.FUNCTIONS: _bind(_name)``
    (the binder setting ``globals()[name]``)."""
    from sgblend_spec import spec

    if name not in spec.FUNCTIONS:
        return None
    for node in module.tree.body:
        if isinstance(node, ast.For) and ast.unparse(node.iter).endswith("FUNCTIONS"):
            calls = [n for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
            if calls:
                return Entry(name, "binding", module, node, spec_name=name, binder=calls[0].func.id)
    return None


def read_api(dotted: str) -> tuple[SourceModule, list[Entry]]:
    """The module and an entry for every public name; a name whose source cannot be found
    fails the build (the page would silently miss it)."""
    module = load(dotted)
    if module is None:
        raise BuildError(f"no source for {dotted} in this checkout")
    entries = []
    for name in public_names(module):
        entry = find(module, name)
        if entry is None:
            raise BuildError(f"{module.path}: {name!r} is in __all__, but no source in the package defines it")
        entries.append(entry)
    return module, entries
