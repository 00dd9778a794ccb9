"""The conformance suite as an installed tool: the built wheel, installed with its
``conformance`` extra into a fresh virtual environment (torch from its pinned wheel), runs
``sgblend-conformance`` from an empty directory. A naive float32 port of SG-Blend fails with
the table and exit status 1 in under 5 minutes; the library's own torch function passes.

The wheel is built and installed once per session (~2 minutes, most of it installing torch).
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TORCH = "torch==2.13.0"  # the CPU wheel this project's machines carry (noxfile.py)


def _run(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> pathlib.Path:
    work = tmp_path_factory.mktemp("wheel")
    built = _run(sys.executable, "-m", "build", "--wheel", "--outdir", work / "dist", ROOT)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = (work / "dist").glob("sgblend_spec-*.whl")
    made = _run(sys.executable, "-m", "venv", work / "venv")  # a plain venv: nothing of this one
    assert made.returncode == 0, made.stderr
    bin_dir = work / "venv" / ("Scripts" if sys.platform == "win32" else "bin")
    installed = _run(bin_dir / "python", "-m", "pip", "install", "-q", f"{wheel}[conformance]", TORCH)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    return bin_dir


def _conformance(venv: pathlib.Path, tmp_path: pathlib.Path, *args: str):
    empty = tmp_path / "empty"
    empty.mkdir()
    report = tmp_path / "report.json"
    start = time.monotonic()
    run = _run(venv / "sgblend-conformance", *args, f"--report-json={report}", cwd=empty)
    return run, time.monotonic() - start, json.loads(report.read_text())


def test_the_suite_is_installed_with_its_tests(venv, tmp_path):
    # From tmp_path: in the checkout, python -c would import the checkout's sgblend_spec.
    listed = _run(venv / "python", "-c", "import pathlib, sgblend_spec.conformance as c; "
                  "print(c.__file__, sorted(p.name for p in pathlib.Path(c.__file__).parent.glob('*.py')))",
                  cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "site-packages" in listed.stdout
    for module in ("conftest.py", "test_accuracy.py", "test_properties.py", "adapt.py", "cli.py"):
        assert module in listed.stdout
    usage = _run(venv / "python", "-m", "sgblend_spec.conformance", "--help", cwd=tmp_path)
    assert usage.returncode == 0 and "--impl-function" in usage.stdout and "--precision" in usage.stdout


def test_a_naive_float32_port_fails_with_the_table_within_5_minutes(venv, tmp_path):
    run, seconds, report = _conformance(
        venv, tmp_path, "--impl", "sgblend_spec.conformance.examples.naive_sgblend:implementation")
    print(run.stdout[run.stdout.find("sgblend-spec accuracy table") - 30:])
    print(f"naive float32 port: exit {run.returncode} in {seconds:.1f} s")
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    assert seconds < 300
    table = run.stdout.split("sgblend-spec accuracy table")[-1]
    for dtype in ("float16", "bfloat16", "float32", "float64"):
        assert f"\n  {dtype}" in table
    assert "[1]!" in table and "worst point of each entry" in table
    assert 'python -c "from sgblend_spec.conformance.repro import point' in table
    # The port has no parameter checks: reported as the input contract, apart from accuracy.
    assert "input contract (errors for bad parameters and x kinds; not accuracy): 0 met" in table
    assert "alpha=nan: no error raised" in table
    assert report["precision"] == "exact" and not all(e["passed"] for e in report["entries"])
    assert report["input_contract"] and not any(r["met"] for r in report["input_contract"])


def test_the_library_torch_function_passes(venv, tmp_path):
    """The torch function as a user calls it (its default, the fast tier) meets the fast bounds."""
    run, seconds, report = _conformance(
        venv, tmp_path, "--impl", "sgblend_spec.backends.torch:sgblend", "--impl-function", "sgblend",
        "--impl-framework", "torch", "--precision", "fast")
    print(run.stdout[run.stdout.find("sgblend-spec accuracy table") - 30:])
    print(f"sgblend_spec.backends.torch.sgblend: exit {run.returncode} in {seconds:.1f} s")
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-3000:]
    assert "24 entries within bound, 0 over" in run.stdout
    assert all(e["passed"] for e in report["entries"]) and all(r["met"] for r in report["input_contract"])


def test_a_declared_flushing_dtype_shows_raw_and_flush_to_zero_figures(venv, tmp_path):
    run, _, report = _conformance(
        venv, tmp_path, "--impl", "sgblend_spec.conformance.examples.naive_sgblend:implementation",
        "--dtypes", "float32", "--flushes-subnormals", "float32", "--", "-k", "test_grid")
    table = run.stdout.split("sgblend-spec accuracy table")[-1]
    assert "float32 (FTZ)" in table and "float32 raw" in table, table
    value = next(e for e in report["entries"] if e["quantity"] == "value")
    assert value["raw_max_ulp"] is not None and value["raw_max_ulp"] > value["max_ulp"]


def test_precision_fast_applies_the_fast_tier_bounds(venv, tmp_path):
    """--precision fast runs the implementation in the fast tier and holds it to that tier's
    bounds (float32: value 4, derivatives 8 ULP), recorded in the report."""
    run = _run(venv / "sgblend-conformance", "--backend", "numpy", "--precision", "fast", "--functions", "swish",
               "--dtypes", "float32", "--report-json", str(tmp_path / "report.json"), "--", "-k", "test_grid",
               cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["precision"] == "fast"
    assert {e["bound"] for e in report["entries"] if e["quantity"] == "value"} == {4}
