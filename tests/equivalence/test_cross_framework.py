"""One model, three frameworks, one answer.

The same MLP (64 → 32 → 10, scikit-learn's digits, full batch) with a shared SG-Blend (or
λ-GELU) activation, identical float64 initial weights and 50 identical plain-SGD steps,
in PyTorch, TensorFlow/Keras and JAX. Parameters are projected after every step as the
authors' Keras constraints do. Losses and the learned activation parameters must agree
to 1e-10 relative; the three trajectories are printed side by side (pytest -s).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = __import__("torch")
tf = __import__("tensorflow")
jax = __import__("jax")
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from sgblend_spec.backends import jax as sj  # noqa: E402
from sgblend_spec.backends import tensorflow as stf  # noqa: E402
from sgblend_spec.backends import torch as st  # noqa: E402

STEPS, LR, HIDDEN = 50, 0.5, 32
CASES = {
    "sgblend": {"function": "sgblend", "init": {"alpha": 0.3, "beta": 1.0, "gamma": 0.05}},
    "lambda_gelu": {"function": "lambda_gelu", "init": {"lam": 2.5}},
}


def _data():
    digits = load_digits()
    x = digits.data / 16.0
    y = digits.target
    rng = np.random.default_rng(0)
    weights = {
        "w1": rng.standard_normal((64, HIDDEN)) * 0.2,
        "b1": np.zeros(HIDDEN),
        "w2": rng.standard_normal((HIDDEN, 10)) * 0.2,
        "b2": np.zeros(10),
    }
    return x, y, weights


def _torch_run(case, x, y, weights):
    cls = {"sgblend": st.SGBlend, "lambda_gelu": st.LambdaGELU}[case["function"]]
    act = cls(**case["init"], dtype=torch.float64)
    w = {k: torch.tensor(v, requires_grad=True) for k, v in weights.items()}
    xt, yt = torch.tensor(x), torch.tensor(y)
    losses = []
    for _ in range(STEPS + 1):
        logits = act(xt @ w["w1"] + w["b1"]) @ w["w2"] + w["b2"]
        loss = torch.nn.functional.cross_entropy(logits, yt)
        losses.append(loss.item())
        params = [*w.values(), *act.parameters()]
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p -= LR * g
            act.project_()
    return losses[:-1], {n: float(p.reshape(())) for n, p in act.named_parameters()}


def _tf_run(case, x, y, weights):
    cls = {"sgblend": stf.SGBlend, "lambda_gelu": stf.LambdaGELU}[case["function"]]
    act = cls(**case["init"], dtype="float64")
    w = {k: tf.Variable(v) for k, v in weights.items()}
    xt = tf.constant(x)
    act.build(xt.shape)
    losses = []
    for _ in range(STEPS + 1):
        with tf.GradientTape() as tape:
            logits = act(xt @ w["w1"] + w["b1"]) @ w["w2"] + w["b2"]
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        losses.append(float(loss))
        params = [*w.values(), *act.trainable_weights]
        grads = tape.gradient(loss, params)
        for p, g in zip(params, grads):
            p.assign_sub(LR * g)
        for v in act.trainable_weights:
            if v.constraint is not None:
                v.assign(v.constraint(v))
    return losses[:-1], {v.name: float(tf.reshape(v, ())) for v in act.trainable_weights}


def _jax_run(case, x, y, weights):
    name = case["function"]
    act = sj.init_params(name, jax.random.key(0), dtype=jnp.float64, **case["init"])
    project = sj.constraints(name)
    params = ({k: jnp.asarray(v) for k, v in weights.items()}, act)
    xt, yt = jnp.asarray(x), jnp.asarray(y)

    def loss_fn(params):
        w, a = params
        logits = sj.apply(name, a, xt @ w["w1"] + w["b1"]) @ w["w2"] + w["b2"]
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, yt[:, None], axis=1))

    step = jax.jit(jax.value_and_grad(loss_fn))
    losses = []
    for _ in range(STEPS + 1):
        loss, grads = step(params)
        losses.append(float(loss))
        params = jax.tree_util.tree_map(lambda p, g: p - LR * g, params, grads)
        params = (params[0], project(params[1]))
    return losses[:-1], {k: float(v) for k, v in params[1].items()}


@pytest.mark.parametrize("case", list(CASES))
def test_three_frameworks_train_to_the_same_numbers(case, capsys):
    x, y, weights = _data()
    runs = {
        "torch": _torch_run(CASES[case], x, y, weights),
        "tensorflow": _tf_run(CASES[case], x, y, weights),
        "jax": _jax_run(CASES[case], x, y, weights),
    }
    with capsys.disabled():
        print(f"\n{case}: loss every 10 steps (torch | tensorflow | jax)")
        for i in range(0, STEPS, 10):
            print(f"  step {i:2d}: " + " | ".join(f"{runs[f][0][i]:.15f}" for f in runs))
        for f, (_, params) in runs.items():
            print(f"  {f:<10} learned " + ", ".join(f"{k}={v:.15f}" for k, v in sorted(params.items())))
    reference_losses, reference_params = runs["torch"]
    assert reference_losses[-1] < reference_losses[0] - 0.1  # it trained
    for framework, (losses, params) in runs.items():
        np.testing.assert_allclose(losses, reference_losses, rtol=1e-10, err_msg=framework)
        names = {k.split("/")[-1].split(":")[0]: v for k, v in params.items()}
        ref = {k.split("/")[-1].split(":")[0]: v for k, v in reference_params.items()}
        assert names.keys() == ref.keys(), (framework, names, ref)
        for k in ref:
            assert names[k] == pytest.approx(ref[k], rel=1e-10, abs=1e-12), (framework, k)


@pytest.mark.parametrize("case", list(CASES))
def test_a_saved_keras_model_transfers_into_torch_and_jax(case, tmp_path):
    """Train the Keras layer, save and reload the model, convert its activation's weights
    (export_parameters → import_parameters) and get the same outputs in torch and JAX."""
    import keras

    function = CASES[case]["function"]
    keras_cls = {"sgblend": stf.SGBlend, "lambda_gelu": stf.LambdaGELU}[function]
    torch_cls = {"sgblend": st.SGBlend, "lambda_gelu": st.LambdaGELU}[function]
    x, y, _ = _data()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,), dtype="float64"), keras.layers.Dense(16, dtype="float64"),
                              keras_cls(**CASES[case]["init"], dtype="float64")])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    model.fit(x, np.tanh(x[:, :16]), epochs=2, batch_size=256, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    parameters = stf.export_parameters(loaded.layers[-1])
    assert parameters.keys() == {"alpha", "beta", "gamma"} or parameters.keys() == {"rho"}
    hidden = loaded.layers[0](x).numpy()
    expected = loaded.layers[-1](hidden).numpy()
    # float64 is evaluated natively by each framework's own exp/erfc: equal within the
    # spec's float64 bound (a few ULP), not bit for bit.
    module = st.import_parameters(torch_cls(**CASES[case]["init"], dtype=torch.float64), parameters)
    np.testing.assert_allclose(module(torch.tensor(hidden)).detach().numpy(), expected, rtol=1e-14, atol=1e-15)
    pytree = sj.import_parameters(function, parameters)
    np.testing.assert_allclose(np.asarray(sj.apply(function, pytree, jnp.asarray(hidden))), expected,
                               rtol=1e-14, atol=1e-15)
    # Training moved the activation's parameters, so the transfer carries real values.
    init = dict(CASES[case]["init"])
    initial = {"rho": (init["lam"] - 1) ** 0.5} if "lam" in init else init
    assert any(abs(float(parameters[k][0]) - v) > 1e-6 for k, v in initial.items())
