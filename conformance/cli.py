"""``sgblend-conformance`` (and ``python -m sgblend_spec.conformance``): the suite run by
pytest on its installed directory, against a built-in backend or any implementation.

    sgblend-conformance --backend torch
    sgblend-conformance --impl my_port:implementation --functions sgblend --dtypes float32
    sgblend-conformance --impl my_port:sgblend --impl-function sgblend --impl-framework torch

Options it does not know, and anything after ``--``, go to pytest (``-k test_grid -x``). The exit status is
pytest's: 0 when every entry is within its bound and every rule holds, 1 when not. With
pytest-xdist installed, ``-n 2`` runs the tests in two processes and merges what they found
into the one table (``nox`` does, one worker per CPU).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

SUITE = pathlib.Path(__file__).resolve().parent


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sgblend-conformance", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--backend", choices=("numpy", "torch", "tensorflow", "jax"), help="a built-in backend")
    which.add_argument("--impl", help="any implementation: 'package.module:attribute' (an adapter, a factory of "
                                      "one, or with --impl-function a plain f(x, **params))")
    p.add_argument("--impl-function", help="with --impl: the attribute is a plain f(x, **params) for this spec function")
    p.add_argument("--impl-framework", choices=("numpy", "torch", "jax", "tensorflow"),
                   help="with --impl-function: f's framework (default numpy)")
    p.add_argument("--functions", help="comma-separated spec functions (default: all the implementation provides)")
    p.add_argument("--dtypes", help="comma-separated dtypes (default: all the implementation supports)")
    p.add_argument("--precision", choices=("exact", "fast"), help="the precision tier whose bounds apply (default exact)")
    p.add_argument("--flushes-subnormals", help="comma-separated dtypes the implementation flushes subnormals in")
    p.add_argument("--shrink", action="store_true", help="let Hypothesis shrink a failing example (slow)")
    p.add_argument("--report-json", help="where to write the report as JSON "
                                          "(default conformance-results/IMPLEMENTATION.json)")
    return p


def pytest_arguments(args: argparse.Namespace) -> list[str]:
    # -rN: the report lists every failure itself, last; -c devnull: no ini file of the caller applies.
    # --confcutdir: no conftest.py of the caller's directories (e.g. a stray /tmp/conftest.py) is loaded.
    out = [str(SUITE), "-q", "--tb=short", "-rN", "-p", "no:cacheprovider", f"--rootdir={SUITE}", "-c", os.devnull,
           f"--confcutdir={SUITE}"]
    for option in ("backend", "impl", "impl_function", "impl_framework", "functions", "dtypes", "precision",
                   "flushes_subnormals", "report_json"):
        value = getattr(args, option)
        if value:
            out.append(f"--{option.replace('_', '-')}={value}")
    if args.shrink:
        out.append("--shrink")
    return out


def main(argv: list[str] | None = None) -> int:
    import pytest

    args, rest = parser().parse_known_args(argv)  # options not ours (-k, -x, ...) go to pytest
    return int(pytest.main(pytest_arguments(args) + [a for a in rest if a != "--"]))


if __name__ == "__main__":
    sys.exit(main())
