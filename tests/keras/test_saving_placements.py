"""Issue #18: an activation layer's weights survive every placement and every Keras save path.

Placements, all in one model: ``activation=`` of Conv1D (a per-channel SGBlend), Dense
(SGBlend) and EinsumDense (LambdaGELU), a standalone SSwish, and ``Activation(SGBlend(...))``;
model kinds: Sequential, functional, subclassed; states: saved freshly built (never called),
after weights set by hand, after ``fit``. Paths: ``.keras`` in this process and in a fresh
process (one subprocess for every case), ``save_weights``/``load_weights`` into a fresh model,
SavedModel ``export`` + ``tf.saved_model.load`` (TensorFlow backend only). Predictions must be
bitwise equal. Runs under every Keras backend (tests/keras/test_cross_backend.py loads files
saved under the others).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from sgblend_spec.backends import keras as B
from sgblend_spec.backends.keras import saving

KINDS = ("sequential", "functional", "subclassed")
STATES = ("fresh", "hand", "fit")
X = np.random.default_rng(0).normal(size=(3, 6, 4)).astype(np.float32)


def _layers():
    return [
        keras.layers.Conv1D(4, 3, padding="same", activation=B.SGBlend(per_channel=True), name="conv"),
        keras.layers.Dense(4, activation=B.SGBlend(), name="dense"),
        keras.layers.EinsumDense("abc,cd->abd", (6, 4), activation=B.LambdaGELU(), name="einsum"),
        B.SSwish(name="standalone"),
        keras.layers.Activation(B.SGBlend(gelu="tanh"), name="wrapped"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(2, name="out"),
    ]


@keras.saving.register_keras_serializable(package="sgblend_spec_tests")
class Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.stack = _layers()

    def build(self, input_shape):  # like Sequential: from shapes, without calling the layers
        for layer in self.stack:
            layer.build(input_shape)
            input_shape = layer.compute_output_shape(input_shape)

    def call(self, x):
        for layer in self.stack:
            x = layer(x)
        return x


def build(kind: str, seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    if kind == "sequential":
        return keras.Sequential([keras.Input((6, 4)), *_layers()])
    if kind == "functional":
        inputs = h = keras.Input((6, 4))
        for layer in _layers():
            h = layer(h)
        return keras.Model(inputs, h)
    model = Subclassed()
    model.build((None, 6, 4))
    return model


def activations(model):
    return [layer for layer in model._flatten_layers() if isinstance(layer, (B.SGBlend, B.SSwish, B.LambdaGELU))]


def prepare(kind: str, state: str) -> keras.Model:
    model = build(kind)
    if state == "hand":  # e.g. parameters imported from another framework's export
        for i, layer in enumerate(activations(model)):
            shapes = [tuple(v.shape) if v.shape[0] != 1 else (1,) for v in layer.weights] or [(4,)] * 3
            layer.set_weights([np.full(s if layer.built else (4,), 0.25 + 0.5 * i + 0.125 * j, np.float32)
                               for j, s in enumerate(shapes)])
    if state == "fit":
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
        model.fit(X, np.ones((3, 2), np.float32), epochs=2, verbose=0)
    return model


FRESH_PROCESS = r"""
import json, sys, os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras, numpy as np
root, tests = sys.argv[1], sys.argv[2]
result = {}
try:  # without importing the backend: Keras cannot know the classes
    keras.models.load_model(os.path.join(root, "functional-fresh.keras"))
    result["no_import"] = None
except Exception as error:
    result["no_import"] = str(error)
from sgblend_spec.backends.keras import saving
result["explained"] = str(saving.explain(TypeError(result["no_import"] or "")))
sys.path.insert(0, tests)
import test_saving_placements as T  # registers the subclassed model (and imports the backend)
x = np.load(os.path.join(root, "x.npy"))
for name in sorted(os.listdir(root)):
    if name.endswith(".keras"):
        model = keras.models.load_model(os.path.join(root, name))
        np.save(os.path.join(root, name + ".npy"), keras.ops.convert_to_numpy(model(x)))
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("placements")
    np.save(root / "x.npy", X)
    cases = {}
    for kind in KINDS:
        for state in STATES:
            model = prepare(kind, state)
            path = root / f"{kind}-{state}.keras"
            model.save(path)  # before the first call when state == "fresh"
            model.save_weights(root / f"{kind}-{state}.weights.h5")
            cases[kind, state] = (model, keras.ops.convert_to_numpy(model(X)), path)
    run = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(root), os.path.dirname(__file__)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return root, cases, json.loads(run.stdout.strip().splitlines()[-1])


def _max_diff(a, b) -> float:
    a, b = (np.asarray(keras.ops.convert_to_numpy(t), np.float64) for t in (a, b))
    return float(np.max(np.abs(a - b)))


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_placement_round_trips_bitwise(saved, kind, state):
    root, cases, _ = saved
    model, expected, path = cases[kind, state]
    assert len(activations(model)) == 5 and all(layer.built for layer in activations(model))
    # .keras, in this process
    loaded = keras.models.load_model(path)
    assert _max_diff(loaded(X), expected) == 0.0, ".keras in-process"
    assert len(loaded.weights) == len(model.weights)
    # .keras, in a fresh process (loaded by the fixture's subprocess)
    assert _max_diff(np.load(str(path) + ".npy"), expected) == 0.0, ".keras fresh process"
    # save_weights / load_weights into a freshly built model with other random weights
    other = build(kind, seed=7)
    assert _max_diff(other(X), expected) > 0
    other.load_weights(root / f"{kind}-{state}.weights.h5")
    assert _max_diff(other(X), expected) == 0.0, "load_weights"
    if state == "fresh":  # the per-channel SGBlend had no weights when saved: its seed was stored
        conv = other.get_layer("conv") if kind != "subclassed" else other.stack[0]
        assert conv.activation.per_channel and conv.activation.built


@pytest.mark.parametrize("kind", KINDS)
def test_saved_model_export_serves_the_same_outputs(saved, kind, tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("SavedModel export is TensorFlow's")
    import tensorflow as tf

    _, cases, _ = saved
    model, expected, _ = cases[kind, "hand"]
    model.export(str(tmp_path / kind), format="tf_saved_model", verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path / kind))  # kept: serve needs its variables alive
    served = reloaded.serve(tf.constant(X))
    assert _max_diff(served, expected) == 0.0


def test_loading_without_the_import_names_the_import(saved):
    """Keras looks custom classes up only in its registry, filled by importing the backend, and
    never imports a non-Keras module named in a file, so the plain keras.models.load_model
    error cannot be changed (see saving.py); it names the registered "sgblend_spec>" class,
    and saving.explain / B.load_model put the import on the first line."""
    _, _, result = saved
    assert result["no_import"] is not None and "'sgblend_spec>SGBlend'" in result["no_import"]
    assert result["explained"].splitlines()[0] == saving.HINT
    assert "import sgblend_spec.backends.keras" in saving.HINT


def test_load_model_of_the_backend_loads(saved):
    _, cases, _ = saved
    model, expected, path = cases["functional", "fresh"]
    assert _max_diff(B.load_model(path)(X), expected) == 0.0
