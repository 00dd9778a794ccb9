"""Bitwise determinism as ``spec.INPUT_CONTRACT``'s "determinism" clause states it, in every
backend: each output computed twice in a fresh interpreter pinned to one CPU (one thread;
XLA's multi-threaded Eigen off) and twice in one with two."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

_RUN = ("import sys; sys.path.insert(0, {here!r}); from adapters import determinism_main; "
        "determinism_main({backend!r}, {n})")


@pytest.fixture(scope="module")
def thread_runs(request) -> dict:
    """Per backend: {n CPUs: {"first": hashes, "again": hashes}}, computed once per module."""
    cache: dict[str, dict] = {}

    def runs(backend) -> dict:
        if backend.name not in cache:
            if len(os.sched_getaffinity(0)) < 2 and backend.threads_need_two_cpus:
                pytest.skip("needs two CPUs to compare one thread with two")
            cache[backend.name] = {}
            for n in (1, 2):
                code = _RUN.format(here=str(Path(__file__).parent), backend=backend.name, n=n)
                done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
                assert done.returncode == 0, done.stderr[-3000:]
                cache[backend.name][n] = json.loads(done.stdout.strip().splitlines()[-1])
        return cache[backend.name]

    return runs


def _differences(runs: dict, dtype: str, elementwise: bool) -> list[str]:
    keys = [k for k in runs[1]["first"]
            if k.startswith(f"{dtype}:") and (k.rsplit(":", 1)[1] in ("value", "x")) == elementwise]
    assert keys
    repeated = [f"{k} ({n} CPU(s) repeated)" for n in (1, 2) for k in keys
                if runs[n]["first"][k] != runs[n]["again"][k]]
    return repeated + [f"{k} (1 vs 2 CPUs)" for k in keys if runs[1]["first"][k] != runs[2]["first"][k]]


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
def test_elementwise_results_are_bitwise_deterministic_across_repeats_and_thread_counts(backend, thread_runs, dtype):
    """Values and x-gradients of sgblend, sgblend_gelu, lambda_gelu and sswish at 2^19
    elements (JAX: eager and jitted, the chunked CPU loop too) hash the same on a repeat and
    with one or two CPUs."""
    assert not _differences(thread_runs(backend), dtype, elementwise=True)


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
def test_parameter_gradients_are_bitwise_deterministic_across_repeats_and_thread_counts(backend, thread_runs, dtype):
    """The same for the reductions: each parameter's gradient summed over 2^19 elements,
    scalar parameters and (float32) per-channel ones. Multi-threaded backends split a long
    sum among their threads; the backends' blocked sums do not."""
    assert not _differences(thread_runs(backend), dtype, elementwise=False)
