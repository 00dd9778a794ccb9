"""The λ-GELU training recipe in JAX: the hardening projection on pytrees and NNX models,
and the λ-aware update as a pure function and as an optax transformation."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from sgblend_spec import hardening as H
from sgblend_spec.backends import jax as B

TARGET = H.target_lam(0.01)
F32_EPS = float(np.finfo(np.float32).eps)


def _task(seed: int, n: int = 512):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n, 2)).astype(np.float32)
    y = (np.sin(2 * x[:, :1]) * np.cos(x[:, 1:]) + 0.3 * x[:, :1]).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(y)


def _init(seed: int, width: int = 32):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
    dense = lambda k, i, o: {"w": jax.random.normal(k, (i, o)) / math.sqrt(i), "b": jnp.zeros(o)}  # noqa: E731
    return {"d1": dense(k1, 2, width), "act1": B.init_params("lambda_gelu"),
            "d2": dense(k2, width, width), "act2": B.init_params("lambda_gelu", shape=(width,)),
            "out": dense(k3, width, 1)}


def _forward(params, x, relu: bool = False):
    act = (lambda p, h: jax.nn.relu(h)) if relu else (lambda p, h: B.apply("lambda_gelu", p, h))
    h = act(params["act1"], x @ params["d1"]["w"] + params["d1"]["b"])
    h = act(params["act2"], h @ params["d2"]["w"] + params["d2"]["b"])
    return h @ params["out"]["w"] + params["out"]["b"]


def _lams(params) -> np.ndarray:
    return np.concatenate([np.ravel(1 + np.asarray(params[k]["rho"]) ** 2) for k in ("act1", "act2")])


def _train(params, steps, schedule=None):
    x, y = _task(0)
    optimizer = optax.chain(B.lambda_update(), optax.adam(1e-2))
    state = optimizer.init(params)

    @jax.jit
    def step(params, state, xb, yb):
        loss, grads = jax.value_and_grad(lambda p: jnp.mean((_forward(p, xb) - yb) ** 2))(params)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    trace = []
    for t in range(steps):
        batch = slice((t * 64) % 512, (t * 64) % 512 + 64)
        params, state, loss = step(params, state, x[batch], y[batch])
        if schedule is not None:
            params = B.harden(params, t + 1, *schedule)
        trace.append(_lams(params))
    return params, np.stack(trace), float(loss)


def test_lambda_reaches_the_target_and_other_leaves_are_untouched():
    params = _init(0)
    ramp, start = 30, 10
    trained, lams, _ = _train(params, 50, (TARGET, ramp, start))
    for t in range(50):
        floor = H.lam_floor(t + 1, TARGET, ramp, start)
        assert np.all(lams[t] >= floor * (1 - 2 * F32_EPS)), t
    assert np.all(lams[start + ramp - 1:] >= TARGET * (1 - 2 * F32_EPS))
    assert lams[start - 1].max() < 3.0
    # harden changes only the "rho" leaves
    hardened = B.harden(params, start + ramp, TARGET, ramp, start)
    for path, leaf in jax.tree_util.tree_leaves_with_path(hardened):
        original = params
        for key in path:
            original = original[key.key]
        if path[-1].key == "rho":
            assert np.all(1 + np.asarray(leaf) ** 2 >= TARGET * (1 - 2 * F32_EPS))
        else:
            assert leaf is original
    assert B.harden(params, 0, TARGET, ramp, start) is params  # the floor is still 1


# (ReLU substitution after hardening vs without, the SGD step in log λ independent of λ, and the
# schedule's and update's argument checks: tests/contract/test_hardening_recipe.py)


def test_scale_lambda_gradients_is_kappa_on_rho_only():
    params = {"act": {"rho": jnp.asarray([0.0, 2.0])}, "w": jnp.ones(3)}
    grads = {"act": {"rho": jnp.ones(2)}, "w": jnp.full(3, 2.0)}
    scaled = jax.jit(B.scale_lambda_gradients)(grads, params)
    np.testing.assert_allclose(scaled["act"]["rho"], [1.0, H.lam_gradient_scale(5.0)], rtol=1e-6)
    assert scaled["w"] is not None and np.all(np.asarray(scaled["w"]) == 2.0)
    with pytest.raises(ValueError, match="update\\(\\) needs params"):
        B.lambda_update().update(grads, optax.EmptyState())


def test_harden_projects_nnx_layers_in_place():
    from flax import nnx

    class Net(nnx.Module):
        def __init__(self):
            self.dense = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
            self.act = B.LambdaGELU(shape=(3,))

    net = Net()
    net.act.rho[...] = jnp.asarray([-0.5, 0.0, 5.0])
    assert B.harden(net, 10, 10.0, 5) is net
    np.testing.assert_allclose(net.act.rho[...], [-3.0, 3.0, 5.0], rtol=1e-6)


@pytest.mark.parametrize("call, match", [
    (lambda: B.harden({}, -1, TARGET, 10), r"step must be an integer >= 0, got -1"),
    (lambda: B.scale_lambda_gradients({}, {}, math.nan), r"preactivation_std must be a finite value in \(0, inf\)"),
])
def test_recipe_errors_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------------------- NNX activation swap
def test_nnx_swap_by_name_replaces_activation_attributes_in_place():
    """An NNX model holding nnx.gelu / jax.nn.silu / jax.nn.swish as attributes (and in an
    nnx.Sequential): "gelu" and "silu" swap them for modules, in place, and report each site."""
    from flax import nnx

    class Block(nnx.Module):
        def __init__(self, rngs):
            self.l1 = nnx.Linear(3, 8, rngs=rngs)
            self.act = nnx.gelu
            self.l2 = nnx.Linear(8, 8, rngs=rngs)
            self.act2 = jax.nn.swish
            self.head = nnx.Sequential(nnx.Linear(8, 2, rngs=rngs), jax.nn.gelu)

        def __call__(self, x):
            return self.head(self.act2(self.l2(self.act(self.l1(x)))))

    model = Block(nnx.Rngs(0))
    x = jnp.linspace(-2, 2, 12, dtype=jnp.float32).reshape(4, 3)
    before = model(x)
    with pytest.raises(ValueError, match=r"nothing in the model matches \['relu'\]"):
        B.swap_activations(model, jax.nn.relu, B.SGBlend)
    with pytest.raises(ValueError, match="its activation functions are: gelu, silu"):
        B.swap_activations(model, jax.nn.relu, B.SGBlend)
    sites = B.swap_activations(model, ("gelu", "silu"), lambda old: B.SGBlend(beta=1.0, alpha=0.0))
    assert isinstance(sites, list) and sites.replaced == {"act": "gelu", "act2": "silu", "head/layers/1": "gelu"}
    assert isinstance(model.act, B.SGBlend) and isinstance(model.head.layers[1], B.SGBlend)
    assert not np.allclose(model(x), before)
    params = nnx.state(model, nnx.Param)
    assert sum(leaf.size for leaf in jax.tree_util.tree_leaves(params)) == (3 * 8 + 8) + (8 * 8 + 8) + (8 * 2 + 2) + 9
    grads = nnx.grad(lambda m: jnp.sum(m(x) ** 2))(model)
    assert np.all(np.isfinite(grads.act.beta[...]))
    with pytest.raises(ValueError, match="its activation functions are: SGBlend$"):
        B.swap_activations(model, "gelu", B.SGBlend)  # nothing left to swap
