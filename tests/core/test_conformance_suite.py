"""The conformance suite itself: it rejects a wrong implementation with a repro, accepts a
right one given as a plain function, and fails (never skips) on a backend it cannot import."""

from __future__ import annotations

import json
import math
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the suite is not installed: it runs from the repository root
    sys.path.insert(0, str(ROOT))


def _suite(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "conformance", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT, capture_output=True, text=True,
    )


def test_a_textbook_erf_gelu_is_rejected_with_a_repro(tmp_path):
    run = _suite("--impl", "conformance.examples.plain_functions:gelu_via_erf", "--impl-function", "gelu",
                 "--dtypes", "float32", "-k", "test_grid", f"--report-json={tmp_path / 'r.json'}")
    assert run.returncode == 1, run.stdout[-2000:]
    assert "repro: impl.value('gelu', np.array([" in run.stdout
    # repro lines name the installed package, importable from any directory (not the checkout's
    # top-level ``conformance``)
    assert "# impl = sgblend_spec.conformance.adapters.load(" in run.stdout
    assert 'python -c "from sgblend_spec.conformance.repro import point' in run.stdout
    table = run.stdout.split("sgblend-spec accuracy table")[-1]
    assert "over the bound" in run.stdout and "[1]!" in table
    # the report's one-line repro runs as printed, from a directory outside the checkout
    worst = next(e for e in json.loads((tmp_path / "r.json").read_text())["entries"] if not e["passed"])["worst"]
    code = re.fullmatch(r'python -c "(.*)"', worst).group(1)
    assert "'sgblend_spec.conformance.examples.plain_functions:gelu_via_erf'" in code, code
    repro = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert repro.returncode == 0 and "ULP [bound 1]" in repro.stdout, repro.stdout + repro.stderr


def test_a_plain_function_passes_and_writes_the_table(tmp_path):
    report = tmp_path / "r.json"
    run = _suite("--impl", "conformance.examples.plain_functions:gelu_via_erfc", "--impl-function", "gelu",
                 "--dtypes", "float32", "-k", "test_grid or test_special", f"--report-json={report}")
    assert run.returncode == 0, run.stdout[-3000:]
    assert "sgblend-spec accuracy table" in run.stdout and report.exists()
    # values only: the derivative columns are reported as not provided
    assert "n/a" in run.stdout


def test_the_fuzz_budget_is_spread_over_the_selected_tests_only(monkeypatch, tmp_path):
    """``nox -s fuzz -- -k ...`` gives each selected Hypothesis test budget / (number selected)
    examples, not budget / (all 72 of them)."""
    monkeypatch.setenv("SGBLEND_CONFORMANCE_PROFILE", "fuzz")
    monkeypatch.setenv("SGBLEND_FUZZ_EXAMPLES", "60")
    run = _suite("--backend", "numpy", "-k", "test_random and swish and float16",
                 f"--report-json={tmp_path / 'r.json'}")
    assert run.returncode == 0, run.stdout[-3000:]
    found = re.search(r"executed: \d+ in (\d+) tests, (\d+) requested per test \(budget 60\)", run.stdout)
    assert found, run.stdout[-3000:]
    selected, per_test = map(int, found.groups())
    assert 0 < selected < 72 and per_test == math.ceil(60 / selected)


def test_an_unimportable_implementation_is_a_failure_not_a_skip():
    run = _suite("--impl", "no_such_package.module:Implementation")
    assert run.returncode != 0 and "skipped" not in run.stdout.splitlines()[-1]
    assert "no_such_package" in run.stdout + run.stderr


def test_backend_and_impl_are_mutually_exclusive():
    run = _suite("--backend", "numpy", "--impl", "conformance.adapters.numpy_reference:NumpyReference")
    assert run.returncode != 0 and "exactly one of" in run.stdout + run.stderr


def test_a_flush_to_zero_implementation_may_read_a_subnormal_parameter_as_zero():
    """conformance/ulp.py: an implementation that declares float64 flush-to-zero may read a
    subnormal parameter (β = 1.1e-308) as 0 and is then held to the oracle at β = 0; one
    that does not declare it is held to the oracle at the β given (found by nox -s fuzz)."""
    import numpy as np

    from conformance.checks import Report, compare, matches_table
    from sgblend_spec import reference

    class FlushingBeta:
        name, functions, dtypes = "flushing", ("sswish",), ("float64",)

        def __init__(self, flushes: bool) -> None:
            self.flushes_subnormals = ("float64",) if flushes else ()

        def value(self, function, x, params):
            beta = 0.0 if abs(params["beta"]) < 2.0**-1022 else params["beta"]
            return reference.sswish(x, beta=beta, gamma=params["gamma"])

    x, params = np.array([1.6935266604449503e293]), {"beta": 1.1125369292536007e-308, "gamma": 0.0}
    assert compare(FlushingBeta(True), "sswish", "float64", x, params, Report()) == []
    assert compare(FlushingBeta(False), "sswish", "float64", x, params, Report())
    # A subnormal table entry (∂α at x = inf is -a(1-a)γ) may be a zero under flush-to-zero only.
    table = {"alpha": 0.0, "beta": 0.0, "gamma": 2.2250738585072014e-308}
    assert matches_table(float("inf"), "alpha", -0.0, -5.562684646268003e-309, table, "float64", flush_to_zero=True)
    assert not matches_table(float("inf"), "alpha", -0.0, -5.562684646268003e-309, table, "float64")


def test_parallel_workers_give_the_same_report_as_one_process(tmp_path):
    """Under pytest-xdist (``-n 2``, what ``nox`` passes) the workers' entries, rules and plot
    samples are merged into one report equal to a single process's: max errors, point counts,
    the rules and the flush-to-zero figures alike (a failing function, declared flushing)."""
    reports = {}
    for workers in ("0", "2"):
        report = tmp_path / f"r{workers}.json"
        run = _suite("--impl", "conformance.examples.plain_functions:gelu_via_erf", "--impl-function", "gelu",
                     "--dtypes", "float32,float64", "--flushes-subnormals", "float32",
                     "-k", "test_grid or test_special", "-n", workers, f"--report-json={report}")
        assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
        assert "sgblend-spec accuracy table" in run.stdout
        reports[workers] = json.loads(report.read_text())
    serial, parallel = reports["0"], reports["2"]
    assert serial["properties"] and serial["samples"]
    assert any(not e["passed"] for e in serial["entries"]) and any(e["raw_max_ulp"] for e in serial["entries"])

    def comparable(report):  # a tie between two points may name either as the worst
        return {**report, "entries": [{k: v for k, v in e.items() if k not in ("worst", "raw_worst")}
                                      for e in report["entries"]]}

    assert comparable(parallel) == comparable(serial)
