"""The pytree API (init_params / apply / constraints) and the Flax NNX layers."""

from __future__ import annotations

import math
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgblend_spec import reference
from sgblend_spec._namespace import numpy_namespace
from sgblend_spec.layers import keras_min_max_norm
from sgblend_spec.backends import jax as sj

SQRT3 = math.sqrt(3.0)


def test_import_does_not_import_flax():
    code = (
        "import sys, sgblend_spec.backends.jax as b; "
        "assert 'flax' not in sys.modules and 'optax' not in sys.modules, sorted(m for m in sys.modules if 'flax' in m); "
        "b.SGBlend; assert 'flax' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_importing_sgblend_spec_imports_no_framework():
    code = "import sys, sgblend_spec, sgblend_spec.backends; assert 'jax' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_attribute_still_raises():
    with pytest.raises(AttributeError, match="NoSuchLayer"):
        sj.NoSuchLayer  # noqa: B018


# ----------------------------------------------------------------------------- pytree API
def test_init_params_authors_defaults():
    params = sj.init_params("sgblend", jax.random.key(0))
    assert set(params) == {"alpha", "beta", "gamma"}
    assert float(params["alpha"]) == 0.0 and float(params["gamma"]) == 0.0
    assert all(v.shape == () and v.dtype == jnp.float32 for v in params.values())
    betas = jax.vmap(lambda k: sj.init_params("sgblend", k)["beta"])(jax.random.split(jax.random.key(1), 2000))
    assert float(betas.min()) >= -SQRT3 and float(betas.max()) <= SQRT3
    assert float(betas.min()) < -1.6 and float(betas.max()) > 1.6  # the whole U(-√3, √3), negatives included
    assert abs(float(betas.mean())) < 0.1


def test_init_params_other_functions():
    assert set(sj.init_params("sswish", jax.random.key(0))) == {"beta", "gamma"}
    lam = sj.init_params("lambda_gelu")
    assert set(lam) == {"rho"}
    np.testing.assert_allclose(1 + float(lam["rho"]) ** 2, 1 + math.log(2), rtol=1e-6)
    assert sj.init_params("gelu") == {}
    assert float(sj.init_params("swish")["beta"]) == 1.0
    per_channel = sj.init_params("sgblend", jax.random.key(0), shape=(5,), dtype=jnp.bfloat16)
    assert all(v.shape == (5,) and v.dtype == jnp.bfloat16 for v in per_channel.values())
    assert float(sj.init_params("sgblend", beta=1.0)["beta"]) == 1.0  # deterministic variant, no key


def test_init_params_errors():
    with pytest.raises(ValueError, match="'beta'.*key"):
        sj.init_params("sgblend")
    with pytest.raises(ValueError, match=r"'beta'.*\[0.1, 10\]"):
        sj.init_params("sgblend", beta=20.0)
    with pytest.raises(ValueError, match=r"'beta'.*\[0.1, 10\]"):
        sj.init_params("sswish", beta=-1.0)
    with pytest.raises(ValueError, match=r"'alpha'.*\[-1, 1\]"):
        sj.init_params("sgblend", alpha=3.0, beta=1.0)
    with pytest.raises(ValueError, match=r"'lam'.*\[1, inf\)"):
        sj.init_params("lambda_gelu", lam=0.5)
    with pytest.raises(TypeError, match="unexpected"):
        sj.init_params("gelu", beta=1.0)
    with pytest.raises(ValueError, match="unknown spec function"):
        sj.init_params("relu")


def test_apply_matches_functions():
    x = jnp.linspace(-4, 4, 9)
    params = sj.init_params("sgblend", jax.random.key(3))
    np.testing.assert_array_equal(
        sj.apply("sgblend", params, x),
        sj.sgblend(x, alpha=params["alpha"], beta=params["beta"], gamma=params["gamma"]),
    )
    rho = {"rho": jnp.float32(1.5)}
    np.testing.assert_array_equal(sj.apply("lambda_gelu", rho, x), sj.lambda_gelu(x, lam=1 + 1.5**2))
    # λ = 1 + ρ²: ∂f/∂ρ = 2ρ·∂f/∂λ.
    g = jax.grad(lambda p: sj.apply("lambda_gelu", p, x).sum())(rho)["rho"]
    want = 3.0 * np.sum(reference.lambda_gelu_grad(np.asarray(x), lam=3.25)["lam"].astype(np.float64))
    np.testing.assert_allclose(float(g), want, rtol=1e-5)
    with pytest.raises(KeyError, match="rho"):
        sj.apply("lambda_gelu", {"lam": 2.0}, x)


def test_constraints_after_optax_step():
    import optax  # a flax dependency: the [flax] extra brings it
    x = jnp.linspace(-3, 3, 16)
    params = sj.init_params("sgblend", jax.random.key(0))
    project = sj.constraints("sgblend")
    optimizer = optax.sgd(1e6)
    state = optimizer.init(params)

    @jax.jit
    def step(params, state):
        grads = jax.grad(lambda p: jnp.sum(sj.apply("sgblend", p, x) ** 2))(params)
        updates, state = optimizer.update(grads, state, params)
        return project(optax.apply_updates(params, updates)), state, grads

    for _ in range(3):
        params, state, grads = step(params, state)
        assert -1.0 <= float(params["alpha"]) <= 1.0
        assert 0.1 <= float(params["beta"]) <= 10.0
    assert float(params["beta"]) in (np.float32(0.1), 10.0)
    assert 1 - 1e-6 < abs(float(params["alpha"])) <= 1.0  # MinMaxNorm: |α|/(1e-7 + |α|) after a huge step
    assert abs(float(params["gamma"])) > 10  # unconstrained
    # The scalar alpha projection is Keras MinMaxNorm(0, 1) exactly (ε = 1e-7), not a clip.
    with jax.enable_x64(True):
        alphas = np.array([-3.0, -1.0, -0.5, 0.0, 1e-9, 0.3, 0.999, 2.0])
        got = [float(project({"alpha": jnp.float64(a), "beta": jnp.float64(1.0)})["alpha"]) for a in alphas]
        want = keras_min_max_norm(numpy_namespace(), alphas)
        assert np.all(np.abs(want[1:-1]) < np.abs(alphas[1:-1]) + (alphas[1:-1] == 0))  # shrinks inside [-1, 1]
        np.testing.assert_array_equal(got, want)
    per_channel = project({"alpha": jnp.asarray([-3.0, 0.5, 2.0]), "beta": jnp.asarray([0.0, 5.0, 11.0])})
    np.testing.assert_array_equal(per_channel["alpha"], [-1.0, 0.5, 1.0])
    np.testing.assert_allclose(per_channel["beta"], [0.1, 5.0, 10.0], rtol=1e-7)
    # lambda_gelu has no projection; λ = 1 + ρ² ≥ 1 by construction.
    assert sj.constraints("lambda_gelu")({"rho": jnp.float32(-7.0)})["rho"] == -7.0


# ----------------------------------------------------------------------------- NNX layers
@pytest.fixture(scope="module")
def nnx():
    from flax import nnx

    return nnx


def test_sgblend_layer_defaults(nnx):
    layer = sj.SGBlend(rngs=nnx.Rngs(0))
    state = nnx.state(layer, nnx.Param)
    assert set(dict(state)) == {"alpha", "beta", "gamma"}
    assert float(layer.alpha[...]) == 0.0 and float(layer.gamma[...]) == 0.0
    assert -SQRT3 <= float(layer.beta[...]) <= SQRT3
    x = jnp.linspace(-3, 3, 7)
    np.testing.assert_array_equal(
        layer(x), sj.sgblend(x, alpha=0.0, beta=layer.beta[...], gamma=0.0)
    )
    betas = [float(sj.SGBlend(rngs=nnx.Rngs(seed)).beta[...]) for seed in range(40)]
    assert min(betas) < 0 < max(betas)  # the authors' init is not clipped before the first update
    with pytest.raises(ValueError, match="'beta'.*key"):
        sj.SGBlend()
    with pytest.raises(ValueError, match="function must be"):
        sj.SGBlend(beta=1.0, function="relu")
    variant = sj.SGBlend(beta=1.0, function="sgblend_gelu", shape=(3,))
    assert variant.beta[...].shape == (3,)
    np.testing.assert_array_equal(variant(x[:3]), sj.sgblend_gelu(x[:3], alpha=0.0, beta=1.0, gamma=0.0))


def test_sswish_and_lambda_gelu_layers(nnx):
    sswish = sj.SSwish(rngs=nnx.Rngs(0))
    assert set(dict(nnx.state(sswish, nnx.Param))) == {"beta", "gamma"}
    lam = sj.LambdaGELU()
    assert set(dict(nnx.state(lam, nnx.Param))) == {"rho"}
    np.testing.assert_allclose(float(lam.lam), 1 + math.log(2), rtol=1e-6)
    with pytest.raises(AttributeError):
        lam.lam = 3.0
    lam2 = sj.LambdaGELU(lam=4.0)
    np.testing.assert_allclose(float(lam2.rho[...]), math.sqrt(3.0), rtol=1e-6)
    x = jnp.linspace(-3, 3, 7)
    np.testing.assert_allclose(lam2(x), sj.lambda_gelu(x, lam=4.0), rtol=1e-6)


def test_layer_constraints_after_optimizer_update(nnx):
    import optax

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.linear = nnx.Linear(4, 4, rngs=rngs)
            self.act = sj.SGBlend(rngs=rngs)
            self.gate = sj.SSwish(rngs=rngs, shape=(4,))
            self.lam = sj.LambdaGELU()

        def __call__(self, x):
            return self.lam(self.gate(self.act(self.linear(x))))

    model = Net(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.sgd(1e6), wrt=nnx.Param)
    x = jax.random.normal(jax.random.key(1), (8, 4))

    @nnx.jit
    def train_step(model, optimizer):
        grads = nnx.grad(lambda m: jnp.sum(m(x) ** 2))(model)
        optimizer.update(model, grads)
        sj.project(model)

    for _ in range(2):
        train_step(model, optimizer)
        assert -1.0 <= float(model.act.alpha[...]) <= 1.0
        assert 0.1 <= float(model.act.beta[...]) <= 10.0
        beta = np.asarray(model.gate.beta[...])
        assert np.all((beta >= np.float32(0.1)) & (beta <= 10.0))
        assert float(model.lam.lam) >= 1.0
    # Huge steps leave every constrained parameter at an end of its interval (alpha within
    # MinMaxNorm's 1e-7 of it).
    assert 1 - 1e-6 < abs(float(model.act.alpha[...])) <= 1.0
    np.testing.assert_array_equal(np.abs(np.asarray(model.gate.beta[...])) > 0, True)
    assert float(model.act.beta[...]) in (np.float32(0.1), 10.0)
