"""Every usage example in docs/examples/ runs (each checks its own results with asserts).

An example names the framework it needs on a ``# requires: NAME`` line; it runs wherever
that framework is importable and is skipped otherwise. The NumPy example always runs.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.py"))


def requirement(path: Path) -> str | None:
    for line in path.read_text().splitlines():
        m = re.match(r"#\s*requires:\s*(\S+)", line)
        if m:
            return m.group(1)
    return None


def test_examples_exist_for_numpy_and_every_backend():
    needs = {requirement(p) for p in EXAMPLES}
    assert {None, "torch", "tensorflow", "jax"} <= needs


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(example, tmp_path):
    need = requirement(example)
    if need is not None and importlib.util.find_spec(need) is None:
        pytest.skip(f"{need} is not installed in this environment")
    env = dict(os.environ)
    if not _is_installed():
        # run against the checkout (only the NumPy example can: backends need the installed package)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600,
    )
    assert proc.returncode == 0, f"{example.name} failed:\n{proc.stdout}\n{proc.stderr}"
    assert proc.stdout.strip(), f"{example.name} printed nothing"


def _is_installed() -> bool:
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        distribution("sgblend-spec")
        return True
    except PackageNotFoundError:
        return False
