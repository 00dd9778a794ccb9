"""End-to-end rows: a training step of one encoder block, per activation, as a ratio to the
same block with the framework's native exact GELU. Framework-free (each bench builds the
models); this module only times them.

Every model is timed in the same process, interleaved: each repeat times every model once
(forward, then training step), in an order rotated by one each repeat, so that drift on a
shared machine hits every model alike. A row's ratio is the median over repeats of the ratio
to the native model timed in the same repeat; its milliseconds are the median time.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable, Optional

#: What one step is, for the notes and the Speed page.
STEP = ("forward in training mode, loss = mean of squares, backward, AdamW update "
        "(and the activation's constraint projection where the layer has one)")


@dataclass
class Model:
    """One row: ``build()`` returns (forward, training step), each a callable of no arguments."""

    name: str
    kind: str  # "native" (the yardstick), "spec" (this library) or "reference"
    note: str
    build: Callable[[], tuple[Callable[[], object], Callable[[], object]]]
    precision: Optional[str] = None


#: The library's activations every end-to-end table times: (row name, layer class, keyword
#: arguments, precision tier).
ACTIVATIONS = (("SGBlend()", "SGBlend", {}, "fast"),
               ("SGBlend(precision='exact')", "SGBlend", {"precision": "exact"}, "exact"),
               ("LambdaGELU()", "LambdaGELU", {}, "fast"),
               ("SSwish()", "SSwish", {}, "fast"))


def models(native: Model, build: Callable, layer: Callable, naive: Callable, exact: bool = True) -> list[Model]:
    """The rows of one framework: ``native`` first, then each of :data:`ACTIVATIONS` as
    ``build(lambda: layer(class name, **keyword arguments))`` (the exact tier only if ``exact``),
    then the naive SG-Blend, ``build(naive)``."""
    rows = [native]
    for name, cls, kwargs, precision in ACTIVATIONS:
        if exact or precision != "exact":
            rows.append(Model(name, "spec", "", build(lambda cls=cls, kwargs=kwargs: layer(cls, **kwargs)), precision))
    return rows + [Model("naive SG-Blend (float32)", "reference", NAIVE_NOTE, build(naive))]


def _time(fn: Callable[[], object], block: Callable[[object], None]) -> float:
    start = time.perf_counter()
    block(fn())
    return (time.perf_counter() - start) * 1e3


def measure(models: list[Model], repeats: int, block: Callable[[object], None], warmup: int = 2) -> list[dict]:
    """Rows with ``name``, ``kind``, ``note``, ``precision``, ``fwd_ms``, ``fwd_ratio``,
    ``fwd_bwd_ms`` (one training step), ``fwd_bwd_ratio``, ``first_step_s``; the first model
    is the native one."""
    if not models or models[0].kind != "native":
        raise ValueError("the first end-to-end model must be the native one")
    built = []
    for model in models:
        fwd, step = model.build()
        start = time.perf_counter()
        block(step())  # the first call compiles (kernels, XLA)
        first = time.perf_counter() - start
        block(fwd())
        for _ in range(warmup - 1):
            block(step())
            block(fwd())
        built.append((fwd, step, first))
        print(f"  end to end {model.name:<40} first step {first:7.2f} s", flush=True)
    times = {"fwd": [[] for _ in models], "step": [[] for _ in models]}
    for r in range(repeats):
        order = [(i + r) % len(models) for i in range(len(models))]
        for i in order:
            times["fwd"][i].append(_time(built[i][0], block))
        for i in order:
            times["step"][i].append(_time(built[i][1], block))
    rows = []
    for i, model in enumerate(models):
        row = {"name": model.name, "kind": model.kind, "note": model.note, "precision": model.precision,
               "first_step_s": built[i][2], "saved_bytes": None}
        for key, label in (("fwd", "fwd"), ("step", "fwd_bwd")):
            own, native = times[key][i], times[key][0]
            row[f"{label}_ms"] = statistics.median(own)
            row[f"{label}_ratio"] = statistics.median(a / b for a, b in zip(own, native))
        rows.append(row)
        print(f"  end to end {model.name:<40} fwd {row['fwd_ms']:8.2f} ms ({row['fwd_ratio']:.3f}×)  "
              f"step {row['fwd_bwd_ms']:8.2f} ms ({row['fwd_bwd_ratio']:.3f}×)", flush=True)
    return rows


def table(rows: list[dict], model: str) -> list[str]:
    """The printed lines of the end-to-end rows."""
    lines = [f"\nend to end: {model}; one step = {STEP}",
             f"{'':44}{'fwd ms':>10}{'× gelu':>8}{'step ms':>10}{'× gelu':>8}{'first s':>9}"]
    for r in rows:
        name = r["name"] + (f" [{r['precision']}]" if r.get("precision") else "")
        lines.append(f"{name:<44}{r['fwd_ms']:>10.2f}{r['fwd_ratio']:>8.3f}{r['fwd_bwd_ms']:>10.2f}"
                     f"{r['fwd_bwd_ratio']:>8.3f}{r.get('first_step_s', float('nan')):>9.2f}")
    return lines


#: The naive float32 SG-Blend, as the authors' Keras layer computes it, written in a framework's
#: ops: a = σ(α); a·(x·σ(βx) − γ) + (1 − a)·x·σ(1.702x); autodiff for the backward.
NAIVE_NOTE = ("the authors' SG-Blend written directly in float32 framework ops, "
              "σ(α)·(x·σ(βx) − γ) + (1 − σ(α))·x·σ(1.702x) with the native sigmoid and the framework's "
              "autodiff (no custom gradient): what a user would write; not conformant")


def naive_sgblend(sigmoid: Callable, x, alpha, beta, gamma):
    """The authors' layer's arithmetic with ``sigmoid`` the framework's own (any array type)."""
    a = sigmoid(alpha)
    return a * (x * sigmoid(beta * x) - gamma) + (1 - a) * (x * sigmoid(1.702 * x))
