"""The framework-free half of the benchmarks: timing, the table, the JSON the docs publish.

Each ``bench_BACKEND.py`` builds a list of :class:`Case` (one per spec function, plus the
framework's native exact GELU as the yardstick and a few labelled reference rows) and
calls :func:`main`. Every case is timed in the same process as the yardstick, so the
ratios compare like with like on a shared, noisy machine; absolute milliseconds are
reported but only the ratios are meant to travel.

    python benchmarks/bench_torch.py [--sizes 1048576 16777216] [--repeats 5] [--functions sgblend,...]
                                     [--end-to-end/--no-end-to-end] [--e2e-repeats 7]
    python benchmarks/harness.py             # the combined table of every results/*.json

A bench may also pass ``end_to_end``: a callable returning ``(model description, rows)``,
the training-step rows of :mod:`end_to_end`, stored under ``"end_to_end"`` (and the
description under ``"end_to_end_model"``) unless ``--no-end-to-end``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Optional

RESULTS = pathlib.Path(__file__).parent / "results"
#: The spec functions, in the order the tables list them (the harness imports no framework,
#: and sgblend_spec.spec imports none either).
from sgblend_spec.spec import FUNCTIONS  # noqa: E402

SPEC_FUNCTIONS = tuple(FUNCTIONS)


@dataclass
class Timed:
    """What one case measures at one size."""

    fwd: Callable[[], object]  # forward only (inference)
    fwd_bwd: Optional[Callable[[], object]]  # forward + backward of a random upstream gradient
    saved_bytes: Optional[int]  # bytes autograd keeps from forward to backward (measured)


@dataclass
class Case:
    """A row of the table: ``build(x, dy)`` returns the callables for inputs ``x``, ``dy``."""

    name: str
    kind: str  # "native" (the yardstick), "spec" (this library) or "reference"
    note: str
    build: Callable[[object, object], Timed]


def median_ms(fn: Callable[[], object], repeats: int, block: Callable[[object], None]) -> float:
    """Median wall time of ``fn`` in ms, after two warm-up calls (the first may compile)."""
    for _ in range(2):
        block(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        block(fn())
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def measure(cases: list[Case], make_inputs, sizes: list[int], repeats: int, block) -> list[dict]:
    """Time every case at every size; ratios are to the "native" case of the same size."""
    runs = []
    for numel in sizes:
        x, dy = make_inputs(numel)
        rows = []
        for case in cases:
            timed = case.build(x, dy)
            row = {"name": case.name, "kind": case.kind, "note": case.note,
                   "fwd_ms": median_ms(timed.fwd, repeats, block),
                   "fwd_bwd_ms": None if timed.fwd_bwd is None else median_ms(timed.fwd_bwd, repeats, block),
                   "saved_bytes": timed.saved_bytes}
            rows.append(row)
            print(f"  {numel:>10,}  {case.name:<34} fwd {row['fwd_ms']:9.2f} ms", flush=True)
        native = next(r for r in rows if r["kind"] == "native")
        for r in rows:
            r["fwd_ratio"] = r["fwd_ms"] / native["fwd_ms"]
            r["fwd_bwd_ratio"] = None if r["fwd_bwd_ms"] is None else r["fwd_bwd_ms"] / native["fwd_bwd_ms"]
        runs.append({"numel": numel, "rows": rows})
    return runs


def _end_to_end():
    """The end_to_end module, whether this one runs as a script's neighbour or as benchmarks.harness."""
    try:
        from . import end_to_end
    except ImportError:
        import end_to_end
    return end_to_end


def _cell(v, fmt: str) -> str:
    return "—" if v is None else format(v, fmt)


def table(result: dict) -> str:
    """The printed table of one backend's result."""
    lines = [f"\n{result['backend']}: {result['framework']}; {result['mode']}; {result.get('dtype', 'float32')} on "
             f"{result['machine']}, "
             f"{result['threads']} threads; ratios to {result['baseline']} in the same run"]
    for run in result["runs"]:
        lines.append(f"\n{run['numel']:,} elements")
        lines.append(f"{'':36}{'fwd ms':>10}{'× gelu':>8}{'fwd+bwd ms':>12}{'× gelu':>8}{'saved MiB':>11}")
        for r in run["rows"]:
            saved = None if r["saved_bytes"] is None else r["saved_bytes"] / 2**20
            lines.append(f"{r['name']:<36}{r['fwd_ms']:>10.2f}{r['fwd_ratio']:>8.2f}"
                         f"{_cell(r['fwd_bwd_ms'], '12.2f'):>12}{_cell(r['fwd_bwd_ratio'], '8.2f'):>8}"
                         f"{_cell(saved, '11.1f'):>11}")
    for name, times in result.get("first_call_s", {}).items():
        lines.append(f"first calls, {name}: " + ", ".join(f"{k} {v:.2f} s" for k, v in times.items()))
    if result.get("end_to_end"):
        lines += _end_to_end().table(result["end_to_end"], result.get("end_to_end_model", ""))
    notes = {r["name"]: r["note"] for run in result["runs"] for r in run["rows"] if r["kind"] != "spec"}
    notes.update({r["name"]: r["note"] for r in result.get("end_to_end", ()) if r.get("note")})
    lines.append("")
    lines += [f"  {name}: {note}" for name, note in notes.items()]
    return "\n".join(lines)


def arguments(description: str, default_sizes=(1 << 20, 1 << 24), extra=()) -> argparse.Namespace:
    """The common options; ``extra`` adds a backend's own as (flags, keyword arguments) pairs."""
    parser = argparse.ArgumentParser(description=description)
    for flags, kwargs in extra:
        parser.add_argument(*flags, **kwargs)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(default_sizes))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--functions", default=",".join(SPEC_FUNCTIONS),
                        help="comma-separated spec functions (default: all)")
    parser.add_argument("--out", type=pathlib.Path, default=None, help="JSON path (default results/BACKEND.json)")
    parser.add_argument("--end-to-end", action=argparse.BooleanOptionalAction, default=True,
                        help="also time a training step of an encoder block per activation (default on)")
    parser.add_argument("--e2e-repeats", type=int, default=7, help="interleaved repeats of the end-to-end rows")
    args = parser.parse_args()
    args.functions = [f for f in args.functions.split(",") if f]
    unknown = set(args.functions) - set(SPEC_FUNCTIONS)
    if unknown:
        parser.error(f"--functions: unknown spec functions {sorted(unknown)}; choose from {list(SPEC_FUNCTIONS)}")
    return args


def main(backend: str, framework: str, mode: str, baseline: str, threads: int, cases: list[Case],
         make_inputs, block, args: argparse.Namespace, extra: Optional[dict] = None,
         end_to_end: Optional[Callable[[], tuple[str, list[dict]]]] = None) -> dict:
    """Measure, print the table, write ``results/BACKEND.json`` (``results/BACKEND-DTYPE.json``
    for a dtype other than float32); returns the result. ``extra`` is stored with it;
    ``end_to_end`` (run unless ``--no-end-to-end``) gives the end-to-end rows."""
    dtype = getattr(args, "dtype", "float32")
    result = {
        "backend": backend, "framework": framework, "mode": mode, "baseline": baseline,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpus": os.cpu_count(), "threads": threads, "dtype": dtype, "repeats": args.repeats,
        **(extra or {}),
        "runs": measure(cases, make_inputs, args.sizes, args.repeats, block),
    }
    if end_to_end is not None and getattr(args, "end_to_end", True):
        result["end_to_end_model"], result["end_to_end"] = end_to_end()
    print(table(result))
    out = args.out or RESULTS / (f"{backend}.json" if dtype == "float32" else f"{backend}-{dtype}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwritten to {out}")
    return result


def load(directory: pathlib.Path = RESULTS) -> list[dict]:
    """Every backend result in ``directory`` (the docs build reads them through this)."""
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))] if directory.is_dir() else []


if __name__ == "__main__":
    for found in load():
        print(table(found))
