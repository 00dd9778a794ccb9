"""Signatures and notes of the names :mod:`.api_source` found, from the source alone:
parameters as ``inspect.signature`` writes them, defaults computed when they come from the
project's framework-free modules, bindings' signatures from their spec record, and the
``#:`` comments of assignments."""

from __future__ import annotations

import ast
import math

from .api_source import Entry, SourceModule, framework_free_value, imported_names


def signature(entry: Entry) -> str:
    """``(args)`` of a def, or of a class's ``__init__`` (without self; inherited from a base
    class in the same module, or a dataclass's fields), with spec defaults computed."""
    node = entry.node
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
        return f"({_arguments(entry.module, node.args)}){returns}"
    init = _init_of(entry.module, node)
    if init is not None:
        return f"({_arguments(entry.module, init.args, drop_self=True)})"
    if any(ast.unparse(d).split("(")[0].endswith("dataclass") for d in node.decorator_list):
        fields = [ast.unparse(ast.AnnAssign(target=s.target, annotation=s.annotation, value=s.value, simple=1))
                  for s in node.body if isinstance(s, ast.AnnAssign)]
        return f"({', '.join(fields)})"
    return ""


def method_signature(module: SourceModule, node: ast.FunctionDef) -> str:
    is_static = any(ast.unparse(d) == "staticmethod" for d in node.decorator_list)
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    return f"({_arguments(module, node.args, drop_self=not is_static)}){returns}"


def _init_of(module: SourceModule, cls: ast.ClassDef, depth: int = 0) -> ast.FunctionDef | None:
    for statement in cls.body:
        if isinstance(statement, ast.FunctionDef) and statement.name == "__init__":
            return statement
    if depth > 10:
        return None
    classes = {n.name: n for n in ast.walk(module.tree) if isinstance(n, ast.ClassDef)}
    for base in cls.bases:
        if isinstance(base, ast.Name) and base.id in classes and classes[base.id] is not cls:
            init = _init_of(module, classes[base.id], depth + 1)
            if init is not None:
                return init
    return None


def _arguments(module: SourceModule, arguments: ast.arguments, drop_self: bool = False) -> str:
    """The parameter list as ``inspect.signature`` writes it (``beta: float = 1.0``)."""
    def one(arg: ast.arg, default: ast.expr | None = None, prefix: str = "") -> str:
        text = prefix + arg.arg + (f": {ast.unparse(arg.annotation)}" if arg.annotation else "")
        if default is not None:
            value = ast.unparse(_computed(module, default))
            text += f" = {value}" if arg.annotation else f"={value}"
        return text

    positional = [*arguments.posonlyargs, *arguments.args]
    defaults = [None] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults)
    pairs = list(zip(positional, defaults))
    slash = len(arguments.posonlyargs)  # where "/" goes (after the positional-only ones)
    if drop_self and pairs:
        pairs.pop(0)
        slash = max(slash - 1, 0)
    parts = [one(a, d) for a, d in pairs]
    if slash:
        parts.insert(slash, "/")
    if arguments.vararg:
        parts.append(one(arguments.vararg, prefix="*"))
    elif arguments.kwonlyargs:
        parts.append("*")
    parts.extend(one(a, d) for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults))
    if arguments.kwarg:
        parts.append(one(arguments.kwarg, prefix="**"))
    return ", ".join(parts)


def _computed(module: SourceModule, default: ast.expr) -> ast.expr:
    """A default as written, or its value when it is a plain number/string computed from the
    project's framework-free modules (``DEFAULTS["swish"]["beta"]`` → ``1.0``)."""
    if isinstance(default, ast.Constant):
        return default
    try:
        value = _value(module, default, 0)
    except Exception:  # noqa: BLE001 - not computable without the framework: show it as written
        return default
    if isinstance(value, str) or (isinstance(value, (int, float)) and math.isfinite(value)):
        return ast.Constant(value)
    return default


def _value(module: SourceModule, expression: ast.expr, depth: int):
    """Evaluate ``expression`` using only ``module``'s top-level assignments and imports of
    the project's framework-free modules (anything else raises)."""
    if depth > 5:
        raise RecursionError("assignment chain too deep")
    imports = imported_names(module)
    assignments = {t.id: s.value for s in module.tree.body if isinstance(s, ast.Assign)
                   for t in s.targets if isinstance(t, ast.Name)}
    bound = {n.id for n in ast.walk(expression) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    namespace = {}
    for name in {n.id for n in ast.walk(expression) if isinstance(n, ast.Name)} - bound:
        if name in imports:
            namespace[name] = framework_free_value(*imports[name])
        elif name in assignments:
            namespace[name] = _value(module, assignments[name], depth + 1)
        else:
            raise NameError(name)
    return eval(compile(ast.Expression(expression), str(module.path), "eval"), {"__builtins__": {}}, namespace)


def comment_doc(entry: Entry) -> str | None:
    """The ``#:`` comment lines just above an assignment (Sphinx's convention), if any."""
    lines = entry.module.path.read_text(encoding="utf-8").splitlines()
    doc: list[str] = []
    i = entry.node.lineno - 2
    while i >= 0 and lines[i].lstrip().startswith("#:"):
        doc.insert(0, lines[i].lstrip()[2:].strip())
        i -= 1
    return "\n".join(doc) or None


def binding_signature(entry: Entry, record) -> str:
    """``(x, p=default, ...)`` of a one-line binding, from the spec record; the parameters are
    keyword-only (``(x, *, ...)``) when the binder makes them so (``KEYWORD_ONLY``)."""
    binder = next((n for n in entry.module.tree.body
                   if isinstance(n, ast.FunctionDef) and n.name == entry.binder), None)
    keyword_only = binder is not None and "KEYWORD_ONLY" in ast.unparse(binder)
    params = [f"{p.name}={p.default!r}" for p in record.params]
    return "(" + ", ".join(["x", *(["*"] if keyword_only and params else []), *params]) + ")"
