"""The wheel installs in a clean virtual environment and both packages import from it."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import venv

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_wheel_installs_and_imports_in_a_clean_venv(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
                   check=True, capture_output=True)
    (wheel,) = dist.glob("sgblend_spec-*.whl")
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], check=True, capture_output=True)
    code = (
        "import sys, sgblend_spec, sgblend_spec.backends, sgblend_spec.reference as r, numpy as np;"
        "assert 'site-packages' in sgblend_spec.__file__ and 'site-packages' in sgblend_spec.backends.__file__;"
        "assert sgblend_spec.backends.AVAILABLE == ('torch', 'tensorflow', 'jax');"
        "print(float(r.sgblend(np.float32(1.0))))"
    )
    out = subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path)
    assert float(out.stdout) > 0.5
    listing = subprocess.run([str(python), "-m", "pip", "show", "-f", "sgblend-spec"],
                             check=True, capture_output=True, text=True).stdout
    packages = sorted(p.parent for p in (ROOT / "backends").glob("*/__init__.py"))
    assert {"torch", "tensorflow", "jax"} <= {p.name for p in packages}
    for package in packages:  # every module of every backend package ships
        for module in package.glob("*.py"):
            assert f"sgblend_spec/backends/{package.name}/{module.name}" in listing
