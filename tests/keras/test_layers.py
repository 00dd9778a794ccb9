"""Keras 3 layers: weights, initialisers, constraints, serialization, fit, jit, mixed precision."""

from __future__ import annotations

import math
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from sgblend_spec import reference

SQRT3 = math.sqrt(3.0)


def _weights(layer) -> dict[str, tuple]:
    return {w.name: (tuple(w.shape), w.dtype, w.constraint) for w in layer.weights}


def test_default_sgblend_is_the_authors_layer(B):
    keras.utils.set_random_seed(3)
    layer = B.SGBlend()
    x = tf.constant(np.linspace(-4, 4, 9, dtype=np.float32))
    y = layer(x)
    assert [w.name for w in layer.weights] == ["alpha", "beta", "gamma"]  # the authors' order
    shapes = {n: s for n, (s, _, _) in _weights(layer).items()}
    assert shapes == {"alpha": (1,), "beta": (1,), "gamma": (1,)}
    alpha, beta, gamma = (float(w.numpy()[0]) for w in layer.weights)
    assert alpha == 0.0 and gamma == 0.0 and -SQRT3 <= beta <= SQRT3  # glorot_uniform on (1,)
    constraints = {n: c for n, (_, _, c) in _weights(layer).items()}
    assert isinstance(constraints["alpha"], keras.constraints.MinMaxNorm)
    assert constraints["alpha"].min_value == 0.0 and constraints["alpha"].max_value == 1.0
    assert isinstance(constraints["beta"], B.Clip)
    assert (constraints["beta"].min_value, constraints["beta"].max_value) == (0.1, 10.0)
    assert constraints["gamma"] is None
    # The blend partner is x·σ(1.702x); output keeps x's shape.
    assert y.shape == x.shape
    np.testing.assert_array_equal(y.numpy(), reference.sgblend(x.numpy(), alpha=0.0, beta=beta, gamma=0.0))


def test_constraints_act_after_an_optimizer_update_not_at_init(B):
    """β may start outside [0.1, 10] (glorot); a huge-lr step lands it in range, |α| ≤ 1."""
    layer = B.SGBlend(beta_initializer=keras.initializers.Constant(-1.5))
    x = tf.constant(np.linspace(-3, 3, 16, dtype=np.float32))
    layer(x)
    assert float(layer.beta.numpy()[0]) == -1.5  # not clipped at initialisation
    optimizer = keras.optimizers.SGD(learning_rate=1e6)
    for sign in (1.0, -1.0):
        with tf.GradientTape() as tape:
            loss = sign * tf.reduce_sum(layer(x)) + sign * tf.reduce_sum(x * layer(x))
        grads = tape.gradient(loss, layer.trainable_variables)
        assert all(g is not None and float(tf.abs(g)[0]) > 0 for g in grads)
        optimizer.apply_gradients(zip(grads, layer.trainable_variables))
        alpha, beta, gamma = (float(w.numpy()[0]) for w in layer.weights)
        assert abs(alpha) <= 1.0 and 0.1 <= beta <= 10.0
        assert abs(gamma) > 10.0  # unconstrained


def test_variants_and_their_weights(B):
    x = tf.constant(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32))
    per = B.SGBlend(per_channel=True, gelu="exact", beta=1.0)
    per(x)
    assert {n: s for n, (s, _, _) in _weights(per).items()} == {"alpha": (3,), "beta": (3,), "gamma": (3,)}
    assert isinstance(per.alpha.constraint, B.Clip) and per.alpha.constraint.min_value == -1.0
    np.testing.assert_array_equal(per.beta.numpy(), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(per(x).numpy(), reference.sgblend_gelu(x.numpy(), alpha=0.0, beta=1.0, gamma=0.0))
    with pytest.raises(ValueError):
        per(tf.zeros((5, 4)))  # channel count is fixed at build

    ones = B.SGBlend(beta_initializer="ones", gelu="tanh")
    ones(x)
    assert float(ones.beta.numpy()[0]) == 1.0
    np.testing.assert_array_equal(ones(x).numpy(), reference.sgblend_gelu_tanh(x.numpy(), alpha=0.0, beta=1.0, gamma=0.0))

    direct = B.SGBlend(alpha_parameterization="direct", alpha=0.5, beta=2.0)
    direct(x)
    assert [w.name for w in direct.weights] == ["a", "beta", "gamma"]
    a = float(direct.alpha.numpy()[0])
    assert a == pytest.approx(1 / (1 + math.exp(-0.5)))
    want = reference.sgblend(x.numpy(), alpha=0.5, beta=2.0, gamma=0.0)
    np.testing.assert_allclose(direct(x).numpy(), want, rtol=2e-7, atol=1e-7)
    # ∂F/∂a = SSwish - g, finite at the ends of [0, 1] too.
    for end in (0.0, 1.0):
        direct.alpha.assign([end])
        with tf.GradientTape() as tape:
            out = tf.reduce_sum(direct(x))
        g = tape.gradient(out, direct.alpha)
        xn = x.numpy().astype(np.float64)
        want = np.sum(xn / (1 + np.exp(-2.0 * xn)) - xn / (1 + np.exp(-1.702 * xn)))
        assert float(g[0]) == pytest.approx(want, rel=1e-5)


def test_lambda_gelu_layer_trains_rho(B):
    layer = B.LambdaGELU(lam=2.0)
    x = tf.constant(np.linspace(-3, 3, 7, dtype=np.float32))
    layer(x)
    assert [w.name for w in layer.weights] == ["rho"] and tuple(layer.rho.shape) == (1,)
    assert float(layer.lam.numpy()[0]) == pytest.approx(2.0)
    with pytest.raises(AttributeError):
        layer.lam = 3.0  # read-only
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(layer(x))
    g = tape.gradient(out, layer.rho)
    rho = float(layer.rho.numpy()[0])
    want = 2 * rho * reference.lambda_gelu_grad(x.numpy().astype(np.float64), lam=1 + rho * rho)["lam"].sum()
    assert float(g[0]) == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError, match="'lam' must be a finite value in"):
        B.LambdaGELU(lam=0.5)


def test_layer_argument_errors(B):
    with pytest.raises(ValueError, match=r"beta must be a finite value in \[0.1, 10\]"):
        B.SGBlend(beta=20.0)
    with pytest.raises(ValueError, match=r"alpha must be a finite value in \[-1, 1\]"):
        B.SGBlend(alpha=2.0)
    with pytest.raises(ValueError, match="gelu must be one of"):
        B.SGBlend(gelu="erf")
    with pytest.raises(ValueError, match="alpha_parameterization"):
        B.SGBlend(alpha_parameterization="softmax")
    with pytest.raises(ValueError, match="not both"):
        B.SSwish(beta=1.0, beta_initializer="ones")
    with pytest.raises(ValueError, match="'beta' must be a finite value in"):
        B.Swish(beta=-1.0)
    with pytest.raises(ValueError, match="per_channel=True needs a known last"):
        B.SSwish(per_channel=True).build((None, None))


def test_weights_of_a_keras_layer_with_the_authors_structure_load(B, tmp_path):
    """Three (1,) weights alpha, beta, gamma created in that order (the released layer's
    structure, written here from its description) load into SGBlend() by path."""

    class SGBlend(keras.layers.Layer):  # same class name -> same layer path "sg_blend"
        def build(self, input_shape):
            for name, value in (("alpha", 0.3), ("beta", 2.5), ("gamma", -0.2)):
                setattr(self, name, self.add_weight(name=name, shape=(1,),
                                                    initializer=keras.initializers.Constant(value)))

        def call(self, x):
            return x

    def model(layer):
        inp = keras.Input((4,))
        return keras.Model(inp, layer(keras.layers.Dense(4)(inp)))

    path = tmp_path / "authors.weights.h5"
    theirs = model(SGBlend())
    theirs.save_weights(path)
    ours = model(B.SGBlend())
    ours.load_weights(path)
    assert [float(w.numpy()[0]) for w in ours.layers[-1].weights] == pytest.approx([0.3, 2.5, -0.2])


def _tiny_model(B, **compile_kwargs):
    inp = keras.Input((5,))
    h = keras.layers.Dense(8, activation=B.SGBlend(name="dense_activation"))(inp)
    h = B.LambdaGELU()(h)
    h = B.SGBlend(per_channel=True, gelu="exact", beta=1.0)(h)
    h = B.SGBlend(alpha_parameterization="direct", beta_initializer="ones", gelu="tanh")(h)
    h = B.SSwish()(h)
    h = B.Swish(beta=1.5)(h)
    h = B.GELU(approximate="tanh")(h)
    model = keras.Model(inp, keras.layers.Dense(1)(h))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse", **compile_kwargs)
    return model


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((64, 5)).astype(np.float32), rng.standard_normal((64, 1)).astype(np.float32)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_model_fit_few_steps(B, data, jit_compile):
    keras.utils.set_random_seed(0)
    model = _tiny_model(B, jit_compile=jit_compile)
    before = [w.numpy().copy() for w in model.trainable_weights]
    history = model.fit(*data, epochs=3, batch_size=16, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    changed = [not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights)]
    assert all(changed)  # every weight, the activations' included, was trained
    for layer in model.layers:
        act = getattr(layer, "activation", layer)
        if isinstance(act, B.SGBlend) and act.alpha_parameterization == "raw":
            assert np.all(np.abs(act.alpha.numpy()) <= 1.0) and np.all(act.beta.numpy() >= 0.1)


def test_save_and_load_round_trip_without_custom_objects(B, data, tmp_path):
    """model.save / keras.models.load_model in a fresh interpreter that only imports the
    backend (which registers the classes), for standalone layers and Dense(activation=SGBlend())."""
    keras.utils.set_random_seed(1)
    model = _tiny_model(B)
    model.fit(*data, epochs=1, batch_size=32, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", data[0])
    np.save(tmp_path / "want.npy", model.predict(data[0], verbose=0))
    code = f"""
import os; os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import keras, numpy as np
import sgblend_spec.backends.tensorflow as B
m = keras.models.load_model({str(path)!r})
got = m.predict(np.load({str(tmp_path / 'x.npy')!r}), verbose=0)
np.testing.assert_array_equal(got, np.load({str(tmp_path / 'want.npy')!r}))
act = m.layers[1].activation
assert isinstance(act, B.SGBlend) and [w.name for w in act.weights] == ["alpha", "beta", "gamma"], act
kinds = [type(l).__name__ for l in m.layers]
assert kinds[2:-1] == ["LambdaGELU", "SGBlend", "SGBlend", "SSwish", "Swish", "GELU"], kinds
assert m.layers[3].per_channel and m.layers[4].alpha_parameterization == "direct"
print("round trip ok")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "round trip ok" in result.stdout, result.stderr[-3000:]


def test_get_config_round_trip_in_process(B):
    for layer in (B.SGBlend(gelu="exact", beta=2.0, per_channel=True), B.SGBlend(), B.SSwish(gamma=0.5),
                  B.LambdaGELU(lam=3.0), B.Swish(beta=0.5), B.GELU("sigmoid"),
                  B.SGBlend(alpha_parameterization="direct", alpha=-0.5)):
        config = keras.saving.serialize_keras_object(layer)
        assert config["registered_name"].startswith("sgblend_spec>")
        clone = keras.saving.deserialize_keras_object(config)
        assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
    dense = keras.layers.Dense(3, activation=B.SGBlend(beta=1.0))
    clone = keras.layers.Dense.from_config(dense.get_config())
    assert isinstance(clone.activation, B.SGBlend) and clone.activation.beta_value == 1.0


def test_mixed_float16_keeps_float32_weights(B):
    keras.config.set_dtype_policy("mixed_float16")
    layer = B.SGBlend(beta=1.5)
    lam_layer = B.LambdaGELU()
    x = tf.constant(np.linspace(-4, 4, 9, dtype=np.float32))
    with tf.GradientTape() as tape:
        y = lam_layer(layer(x))
        loss = tf.reduce_sum(tf.cast(y, tf.float32))
    variables = layer.trainable_variables + lam_layer.trainable_variables
    grads = tape.gradient(loss, variables)
    assert y.dtype == tf.float16
    assert all(w.dtype == "float32" for w in variables)
    assert all(g.dtype == tf.float32 for g in grads)
    # The parameters entered as float32 (β = 1.5 exactly, λ = 1 + ρ² in float64): compare
    # with the reference evaluated on the float16 input.
    x16 = x.numpy().astype(np.float16)
    np.testing.assert_array_equal(layer(x).numpy(), reference.sgblend(x16, alpha=0.0, beta=1.5, gamma=0.0))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_layer_dtype_policies(B, dtype):
    layer = B.SGBlend(beta=1.0, dtype=dtype)
    y = layer(tf.constant([0.5, -2.0], tf.float32))
    assert y.dtype.name == dtype and layer.beta.dtype == dtype


def test_layer_inside_jit_compiled_function(B):
    layer = B.SGBlend(beta=1.25)
    x = tf.constant(np.linspace(-5, 5, 11, dtype=np.float32))
    layer(x)

    @tf.function(jit_compile=True)
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
        return y, tape.gradient(y, [x, *layer.trainable_variables])

    y, grads = step(x)
    np.testing.assert_array_equal(y.numpy(), layer(x).numpy())
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)
