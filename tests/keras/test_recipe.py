"""The λ-GELU training recipe in Keras 3 (every Keras backend): hardening callback, λ-aware update, ReLU
substitution, and the activation swap for Sequential and functional models."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from sgblend_spec import hardening as H

TARGET = H.target_lam(0.01)
F32_EPS = float(np.finfo(np.float32).eps)


def _task(seed: int, n: int = 512):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n, 2)).astype(np.float32)
    y = (np.sin(2 * x[:, :1]) * np.cos(x[:, 1:]) + 0.3 * x[:, :1]).astype(np.float32)
    return x, y


def _mlp(B, seed: int, width: int = 32) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((2,))
    h = B.LambdaGELU(name="act1")(keras.layers.Dense(width, name="dense1")(inputs))
    h = B.LambdaGELU(per_channel=True, name="act2")(keras.layers.Dense(width, name="dense2")(h))
    return keras.Model(inputs, keras.layers.Dense(1, name="out")(h))


def _lams(B, model) -> np.ndarray:
    return np.concatenate([keras.ops.convert_to_numpy(layer.lam).ravel() for layer in model.layers if isinstance(layer, B.LambdaGELU)])


def _fit(B, model, epochs, callbacks=(), lr=1e-2):
    x, y = _task(0)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="mse")
    history = model.fit(x, y, batch_size=64, epochs=epochs, shuffle=False, verbose=0, callbacks=list(callbacks))
    return history.history["loss"][-1]


# ----------------------------------------------------------------------------- schedule
def test_lambda_reaches_the_target_under_the_callback(B):
    model = _mlp(B, 0)
    callback = B.HardeningCallback(TARGET, ramp_steps=24, start_step=8)
    floors = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            floors.append((int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)), callback.lam_floor, _lams(B, model)))

    _fit(B, model, epochs=5, callbacks=[callback, Record()])  # 8 steps per epoch, 40 in all
    for step, floor, lams in floors:
        assert floor == H.lam_floor(step, TARGET, 24, 8)
        assert np.all(lams >= floor * (1 - 2 * F32_EPS)), (step, floor, lams)
    assert floors[-1][0] == 40 and floors[-1][1] == TARGET
    assert np.all(floors[-1][2] >= TARGET * (1 - 2 * F32_EPS))
    assert max(floors[7][2]) < 3.0  # before the ramp the floor (1) leaves λ to the optimizer


def test_replace_lambda_gelu_with_relu_copies_the_model_and_reports_the_measured_change(B):
    """(ReLU substitution after hardening vs without: tests/contract/test_hardening_recipe.py.)"""
    probe = _task(9, n=2000)[0]
    model = _mlp(B, 4)
    relu_model, report = B.replace_lambda_gelu_with_relu(model, probe)
    assert report.sites == ("act1", "act2")
    assert [type(layer).__name__ for layer in relu_model.layers] == [
        "InputLayer", "Dense", "ReLU", "Dense", "ReLU", "Dense"]
    assert isinstance(model.get_layer("act1"), B.LambdaGELU)  # the original is unchanged
    delta = np.abs(relu_model.predict(probe, verbose=0) - model.predict(probe, verbose=0))
    assert report.max_abs_change == pytest.approx(float(delta.max()), rel=1e-5)


def test_a_single_unit_moves_by_at_most_the_bound(B):
    model = keras.Sequential([keras.Input((1,)), B.LambdaGELU(lam=TARGET)])
    x = np.linspace(-1, 1, 100_001, dtype=np.float32)[:, None]
    _, report = B.replace_lambda_gelu_with_relu(model, x)
    assert report.max_abs_change <= report.unit_bound * (1 + 4 * F32_EPS)
    assert report.max_abs_change == pytest.approx(0.01, rel=1e-4)


def test_relu_ize_is_the_former_name_of_the_same_function(B):
    assert B.relu_ize is B.replace_lambda_gelu_with_relu


# ----------------------------------------------------------------------------- λ-aware update
# (the SGD step in log λ independent of λ, the schedule's and update's argument checks:
# tests/contract/test_hardening_recipe.py)
def test_recipe_errors_name_the_argument(B):
    plain = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="gelu")])
    with pytest.raises(ValueError, match="model has no LambdaGELU layer"):
        B.register_lambda_update(keras.optimizers.SGD(), plain)
    with pytest.raises(ValueError, match="model has no LambdaGELU layer"):
        B.replace_lambda_gelu_with_relu(plain, np.zeros((1, 2), np.float32))
    model = _mlp(B, 0)
    optimizer = B.register_lambda_update(keras.optimizers.SGD(), model)
    with pytest.raises(ValueError, match="already has the λ-aware update"):
        B.register_lambda_update(optimizer, model)
    unbuilt = keras.Sequential([B.LambdaGELU(per_channel=True)])  # scalar weights exist from construction
    with pytest.raises(ValueError, match="build the model first"):
        B.register_lambda_update(keras.optimizers.SGD(), unbuilt)


def test_lambda_update_scales_rho_steps_by_kappa_in_fit(B):
    """One SGD step of ``fit``: with the λ-aware update ρ moves κ(λ) times as far (every
    backend's optimizer path: TensorFlow apply_gradients, JAX stateless_apply, torch apply)."""
    x, y = _task(0, n=64)
    steps = []
    for registered in (False, True):
        model = _mlp(B, 0)
        layers = [layer for layer in model.layers if isinstance(layer, B.LambdaGELU)]
        for layer in layers:
            layer.rho.assign(keras.ops.full(tuple(layer.rho.shape), 1.5))  # λ = 3.25, κ ≈ 11.6
        optimizer = keras.optimizers.SGD(0.1)
        if registered:
            B.register_lambda_update(optimizer, model)
        model.compile(optimizer=optimizer, loss="mse")
        model.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0)
        rhos = [keras.ops.convert_to_numpy(layer.rho).astype(np.float64).ravel() for layer in layers]
        steps.append(np.concatenate(rhos) - 1.5)
    kappa = H.lam_gradient_scale(1 + 1.5**2)
    assert kappa > 10 and np.max(np.abs(steps[0])) > 1e-4
    # up to the float32 rounding of ρ after each step (ULP(1.5) = 1.2e-7, times κ)
    np.testing.assert_allclose(steps[1], kappa * steps[0], rtol=1e-4, atol=2 * kappa * 2.0**-23)


# ----------------------------------------------------------------------------- activation swap
def _functional():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((6,))
    shared = keras.layers.Activation("gelu", name="shared_gelu")
    h = shared(keras.layers.Dense(8, name="d1")(inputs))
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.Activation("silu", name="silu")(keras.layers.Dense(8, name="d2")(h))
    inner = keras.Sequential([keras.layers.Dense(8, name="d3"), keras.layers.Activation("swish", name="inner_swish"),
                              keras.layers.Dropout(0.1, name="drop")], name="inner")
    h = shared(inner(h))
    h = keras.layers.ReLU(name="relu")(keras.layers.Dense(8, name="d4")(h))
    return keras.Model(inputs, keras.layers.Dense(3, name="out")(h))


def test_swap_preserves_every_other_layer_and_its_weights(B):
    model = _functional()
    x = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)
    model(x, training=True)  # BatchNormalization statistics become non-trivial
    weights = {v.path: (id(v), keras.ops.convert_to_numpy(v)) for v in model.weights}
    swapped, sites = B.swap_activations(model, ("gelu", "silu"), lambda layer: B.SGBlend(beta=1.0))
    assert sites == ["shared_gelu", "silu", "inner/inner_swish"]  # a layer called twice is one site
    names = {layer.name: layer for layer in model.layers}
    for layer in swapped.layers:
        if layer.name in names and layer.name not in ("shared_gelu", "silu", "inner"):
            assert layer is names[layer.name], layer.name  # the same object: weights shared
    new = [layer for layer in swapped._flatten_layers() if isinstance(layer, B.SGBlend)]
    assert len(new) == 3  # the shared GELU got one shared SG-Blend
    for v in model.weights:
        assert id(v) == weights[v.path][0] and np.array_equal(keras.ops.convert_to_numpy(v), weights[v.path][1])
    swapped_ids = {id(v) for v in swapped.weights}
    assert {id(v) for v in model.weights} <= swapped_ids
    assert len(swapped.weights) == len(model.weights) + 3 * 3
    assert isinstance(model.get_layer("silu"), keras.layers.Activation)  # the original is unchanged
    # with every SG-Blend at a = 1/2, β = 1, γ = 0 the swapped model differs only through the activations
    assert swapped(x).shape == (16, 3)
    swapped.compile(optimizer="adam", loss="mse")
    swapped.fit(x, np.zeros((16, 3), np.float32), epochs=1, verbose=0)


def test_swap_with_a_class_an_instance_and_sequential_models(B):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4), keras.layers.ReLU(), keras.layers.Dense(4),
                              keras.layers.ReLU()])
    swapped, sites = B.swap_activations(model, keras.layers.ReLU, B.GELU)
    assert len(sites) == 2 and all(isinstance(swapped.layers[i], B.GELU) for i in (1, 3))
    assert swapped.layers[1] is not swapped.layers[3]
    assert swapped.layers[0] is model.layers[0] and swapped.layers[2] is model.layers[2]
    one = B.SGBlend(beta=1.0)
    again, _ = B.swap_activations(swapped, B.GELU, one)
    assert again.layers[1] is one and again.layers[3] is one
    with pytest.raises(ValueError, match=r"nothing in the model matches old='tanh'; its activations are: ReLU"):
        B.swap_activations(model, "tanh", B.GELU)


def test_fused_activations_are_swapped_unless_skipped(B):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, activation="relu", name="fused"),
                              keras.layers.Activation("relu", name="separate")])
    swapped, sites = B.swap_activations(model, "relu", B.LambdaGELU, skip_fused=True)
    assert sites == ["separate"] and swapped.layers[0] is model.layers[0]
    swapped, sites = B.swap_activations(model, "relu", B.LambdaGELU)
    assert sites == ["fused", "separate"] and isinstance(swapped.layers[0].activation, B.LambdaGELU)
    assert swapped.layers[0] is not model.layers[0]  # a copy, holding copies of the weights
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(swapped.layers[0].kernel),
                                  keras.ops.convert_to_numpy(model.layers[0].kernel))


def test_swap_by_name_matches_every_keras_spelling_and_reports_each_site(B):
    """"gelu" and "silu" (activation_names.KERAS_FUNCTIONS) match Activation layers and the
    activation= of Dense, Conv1D and EinsumDense, by any spelling (silu is swish)."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((5, 4))
    h = keras.layers.Conv1D(4, 3, padding="same", activation="gelu", name="conv")(inputs)
    h = keras.layers.Activation(keras.activations.swish, name="act_swish")(h)
    h = keras.layers.EinsumDense("abc,cd->abd", (5, 4), activation="silu", name="einsum")(h)
    h = keras.layers.Dense(4, activation=keras.activations.gelu, name="dense")(h)
    h = keras.layers.Activation("relu", name="relu")(h)
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(h))
    x = np.random.default_rng(0).normal(size=(2, 5, 4)).astype(np.float32)
    swapped, sites = B.swap_activations(model, ("gelu", "silu"), B.SGBlend)
    assert isinstance(sites, list)
    assert sites.replaced == {"conv": "gelu", "act_swish": "silu", "einsum": "silu", "dense": "gelu"}
    assert swapped.get_layer("relu") is model.get_layer("relu")
    assert isinstance(swapped.get_layer("dense").activation, B.SGBlend)
    assert swapped(x).shape == (2, 5, 2)
    only_gelu, sites = B.swap_activations(model, "gelu", lambda layer: B.GELU())
    assert sites == ["conv", "dense"]
    # a GELU everywhere else unchanged: the swapped model computes what the original did (to rounding)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(only_gelu(x)), keras.ops.convert_to_numpy(model(x)), atol=1e-5)
    with pytest.raises(ValueError, match=r"its activations are: .*Activation\('relu'\).*Conv1D\(activation='gelu'\)"):
        B.swap_activations(model, "tanh", B.GELU)


@pytest.mark.parametrize("old, new, error, match", [
    (3, "gelu", TypeError, "old must be a Keras layer class, an activation name"),
    ("not_an_activation", None, ValueError, "unknown Keras activation name 'not_an_activation'"),
    ("relu", 3, TypeError, "new must be a Keras layer instance"),
    ("relu", lambda layer: "gelu", TypeError, r"new\(Activation\) returned str, not a Keras layer"),
])
def test_swap_rejects_bad_arguments(B, old, new, error, match):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Activation("relu")])
    with pytest.raises(error, match=match):
        B.swap_activations(model, old, new if new is not None else B.GELU)


def test_swapped_model_saves_and_loads(B, tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3), keras.layers.Activation("gelu")])
    swapped, _ = B.swap_activations(model, "gelu", lambda layer: B.LambdaGELU(lam=2.0))
    path = tmp_path / "swapped.keras"
    swapped.save(path)
    loaded = keras.models.load_model(path)
    x = np.linspace(-2, 2, 9, dtype=np.float32).reshape(3, 3)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(swapped(x)))
    assert math.isclose(float(keras.ops.convert_to_numpy(loaded.layers[1].lam)[0]), 2.0, rel_tol=1e-6)
