"""One registered serialization: a .keras file saved under any Keras backend loads under this one.

``data/saved-<backend>.keras`` were written by ``make_cross_backend_files.py`` under each backend
(every placement and layer, after ``fit``). Loaded under any backend, the predictions agree with
the saved ones to float32 rounding: the frameworks' own matmuls and convolutions differ in the
last bits across frameworks and across CPUs (the torch file, saved on an AMD machine, loads on an
Intel AVX-512 one 1 ULP off in 2 of 6 outputs, measured; this library's activations give the same
bits under ATen's AVX2 and AVX-512 kernels there), and the fast tier is ≤ 4 ULP per activation. Bitwise round trips on one machine are tests/keras/test_saving_placements.py's.
``data/legacy-tensorflow.keras`` was saved by the TensorFlow-only layers before the tiers: its
layers load as precision="exact", the tier they were trained with.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest

from sgblend_spec.backends import keras as B
from sgblend_spec.backends.keras import dispatch

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
HERE = keras.backend.backend()
X = np.load(os.path.join(DATA, "x.npy"))
#: Across frameworks: |Δ| ≤ RTOL·(|y| + 1) (measured: ≤ 2.7e-7 relative, a few float32 ULPs).
RTOL = 2e-6


def _activations(model):
    return [layer for layer in model._flatten_layers() if isinstance(layer, (B.SGBlend, B.SSwish, B.LambdaGELU,
                                                                           B.Swish, B.GELU))]


@pytest.mark.parametrize("saved_under", dispatch.SUPPORTED)
def test_a_file_saved_under_each_backend_loads_here(saved_under):
    path = os.path.join(DATA, f"saved-{saved_under}.keras")
    want = np.load(os.path.join(DATA, f"saved-{saved_under}.npy"))
    # compile=False: Keras names a torch-saved optimizer by its torch module (torch_adam), which
    # other backends cannot import; the layers and weights carry over.
    model = B.load_model(path, compile=False)
    layers = _activations(model)
    assert len(layers) == 8 and all(layer.precision == "fast" for layer in layers)
    got = keras.ops.convert_to_numpy(model(X))
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL)


def test_a_file_saved_before_the_tiers_loads_as_exact():
    model = B.load_model(os.path.join(DATA, "legacy-tensorflow.keras"))
    layers = _activations(model)
    assert len(layers) == 8 and all(layer.precision == "exact" for layer in layers)
    if dispatch.wide_dtype() != "float64":  # JAX with x64 off: the exact tier says what to do
        with pytest.raises(ValueError, match="needs float64: enable jax.config.update"):
            model(X)
        return
    got = keras.ops.convert_to_numpy(model(X))
    want = np.load(os.path.join(DATA, "legacy-tensorflow.npy"))
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL)


def test_only_the_active_framework_is_imported():
    """The layers import the active backend's framework and no other (fresh interpreter)."""
    import subprocess
    import sys

    code = """
import sys, numpy as np, keras
from sgblend_spec.backends.keras import SGBlend
SGBlend(beta=1.0)(np.ones((2, 3), np.float32))
print(sorted(name for name in ("tensorflow", "jax", "torch") if name in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == repr([HERE])
