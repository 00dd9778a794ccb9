"""torch.func transforms and forward-mode AD on the torch binding (issue #23).

Each transform is checked against the NumPy reference (float64: values, the x- and
parameter partials, ∂²f/∂x²) and against the eager autograd path, which it must match
bitwise where it computes the same quantity.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.autograd.forward_ad as fwAD
from torch.func import functional_call, grad, hessian, jacfwd, jacrev, jvp, vmap

from sgblend_spec import reference, spec
from sgblend_spec.backends import torch as B

NAMES = list(spec.FUNCTIONS)
X = torch.linspace(-6.0, 6.0, 13, dtype=torch.float64)  # 0 included
VALUES = {"alpha": 0.3, "beta": 1.5, "gamma": 0.1, "lam": 2.5}


def _params(name: str) -> dict[str, torch.Tensor]:
    return {p: torch.tensor(VALUES[p], dtype=torch.float64) for p in spec.FUNCTIONS[name].param_names}


def _floats(name: str) -> dict[str, float]:
    return {p: VALUES[p] for p in spec.FUNCTIONS[name].param_names}


def _ref_grad(name: str) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.asarray(v)) for k, v in getattr(reference, f"{name}_grad")(X.numpy(), **_floats(name)).items()}


def _close(got: torch.Tensor, want: torch.Tensor) -> None:
    torch.testing.assert_close(got, torch.broadcast_to(want, got.shape).to(got.dtype), rtol=1e-13, atol=1e-15)


def _f(name: str):
    """f(x, *params) with the parameters positional, as the transforms' argnums need."""
    return lambda x, *params: getattr(B, name)(x, *params)


def _eager_partials(name: str) -> dict[str, torch.Tensor]:
    """Per-element partials from the eager autograd path (one backward per parameter element)."""
    x = X.clone().requires_grad_()
    params = {k: v.expand(X.shape).clone().requires_grad_() for k, v in _params(name).items()}
    getattr(B, name)(x, *params.values()).backward(torch.ones_like(X))
    return {"x": x.grad, **{k: v.grad for k, v in params.items()}}


@pytest.mark.parametrize("name", NAMES)
def test_grad_of_x_and_parameters_under_vmap(name):
    params = tuple(_params(name).values())
    argnums = tuple(range(1 + len(params)))
    got = vmap(grad(_f(name), argnums=argnums), in_dims=(0, *(None,) * len(params)))(X, *params)
    ref, eager = _ref_grad(name), _eager_partials(name)
    for key, value in zip(("x", *_params(name)), got):
        _close(value, ref[key])
        assert torch.equal(value, eager[key]), key


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("jacobian", [jacrev, jacfwd], ids=["jacrev", "jacfwd"])
def test_jacobians(name, jacobian):
    params = tuple(_params(name).values())
    jac = jacobian(_f(name), argnums=tuple(range(1 + len(params))))(X, *params)
    ref, eager = _ref_grad(name), _eager_partials(name)
    assert torch.equal(jac[0], torch.diag(torch.diagonal(jac[0])))  # elementwise: diagonal
    assert torch.equal(torch.diagonal(jac[0]), eager["x"])
    _close(torch.diagonal(jac[0]), ref["x"])
    for key, value in zip(_params(name), jac[1:]):
        assert torch.equal(value, eager[key]), key
        _close(value, ref[key])


@pytest.mark.parametrize("name", NAMES)
def test_jvp_and_forward_ad_match_the_reference(name):
    gen = torch.Generator().manual_seed(1)
    params = tuple(_params(name).values())
    x_dot = torch.randn(X.shape, generator=gen, dtype=torch.float64)
    p_dots = tuple(torch.randn((), generator=gen, dtype=torch.float64) for _ in params)
    ref = _ref_grad(name)
    want = ref["x"] * x_dot + sum((ref[k] * d for k, d in zip(_params(name), p_dots)), torch.zeros_like(X))
    value, tangent = jvp(_f(name), (X, *params), (x_dot, *p_dots))
    assert torch.equal(value, getattr(B, name)(X, *params))
    _close(tangent, want)
    with fwAD.dual_level():
        duals = [fwAD.make_dual(t, d) for t, d in zip((X, *params), (x_dot, *p_dots))]
        out = fwAD.unpack_dual(getattr(B, name)(*duals))
    assert torch.equal(out.primal, value) and torch.equal(out.tangent, tangent)
    # x-tangent only: the eager backward with grad_out = ẋ gives the same numbers
    _, x_only = jvp(lambda x: getattr(B, name)(x, *params), (X,), (x_dot,))
    assert torch.equal(x_only, _eager_partials(name)["x"] * x_dot)


@pytest.mark.parametrize("name", NAMES)
def test_hessian_diagonal_is_the_spec_dxx(name):
    params = tuple(_params(name).values())
    dxx = torch.from_numpy(np.asarray(getattr(reference, f"{name}_dxx")(X.numpy(), **_floats(name))))
    got = vmap(hessian(lambda x: getattr(B, name)(x, *params)))(X)
    _close(got, dxx)
    x = X.clone().requires_grad_()
    (gx,) = torch.autograd.grad(getattr(B, name)(x, *params).sum(), x, create_graph=True)
    (eager,) = torch.autograd.grad(gx.sum(), x)  # double backward still works
    assert torch.equal(got, eager)


@pytest.mark.parametrize("name", ["sswish", "sgblend", "sgblend_gelu", "lambda_gelu"])
def test_parameter_hessian_matches_double_backward(name):
    params = tuple(p.requires_grad_() for p in _params(name).values())
    argnums = tuple(range(len(params)))
    got = hessian(lambda *p: getattr(B, name)(X, *p).sum(), argnums=argnums)(*params)
    first = torch.autograd.grad(getattr(B, name)(X, *params).sum(), params, create_graph=True)
    for i, g in enumerate(first):
        row = torch.autograd.grad(g, params, allow_unused=True, retain_graph=True)
        for j, h in enumerate(row):
            torch.testing.assert_close(got[i][j], torch.zeros(()) if h is None else h, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["sgblend", "lambda_gelu", "sswish"])
@pytest.mark.parametrize("dim", [0, 1])
def test_vmap_in_any_dim_with_batched_parameters(name, dim):
    gen = torch.Generator().manual_seed(2)
    x = 3 * torch.randn(4, 5, generator=gen, dtype=torch.float64)
    n = x.shape[dim]
    params = {k: v + 0.2 * torch.rand(n, generator=gen, dtype=torch.float64) for k, v in _params(name).items()}
    f = _f(name)
    got = vmap(f, in_dims=(dim, *(0,) * len(params)), out_dims=dim)(x, *params.values())
    for i in range(n):
        sample = x.select(dim, i)
        assert torch.equal(got.select(dim, i), f(sample, *(p[i] for p in params.values())))
    # per-sample parameter gradients, batched parameters included
    grads = vmap(grad(lambda xi, *p: f(xi, *p).sum(), argnums=tuple(range(1, 1 + len(params)))),
                 in_dims=(dim, *(0,) * len(params)))(x, *params.values())
    for i in range(n):
        ps = [p[i].clone().requires_grad_() for p in params.values()]
        f(x.select(dim, i), *ps).sum().backward()
        for g, p in zip(grads, ps):
            assert torch.equal(g[i], p.grad)


def _model(activation: torch.nn.Module) -> torch.nn.Module:
    torch.manual_seed(5)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), activation, torch.nn.Linear(4, 1)).double()


@pytest.mark.parametrize("activation", [
    lambda: B.SGBlend(beta=1.0, num_parameters=4),
    lambda: B.SGBlend(),
    lambda: B.LambdaGELU(lam=2.0, num_parameters=4),
    lambda: B.SSwish(beta=1.5),
], ids=["sgblend-per-channel", "sgblend-scalar", "lambda_gelu-per-channel", "sswish-scalar"])
def test_per_sample_gradients_match_a_loop_of_backward_passes(activation):
    model = _model(activation())
    gen = torch.Generator().manual_seed(6)
    xs = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    ys = torch.randn(6, 1, generator=gen, dtype=torch.float64)
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p, x, y):
        return ((functional_call(model, p, (x[None],)) - y) ** 2).sum()

    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))(params, xs, ys)
    for i in range(len(xs)):
        model.zero_grad()
        loss(dict(model.named_parameters()), xs[i], ys[i]).backward()
        for k, p in model.named_parameters():
            torch.testing.assert_close(per_sample[k][i], p.grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_narrow_dtypes_match_the_eager_path(dtype):
    x = X.to(dtype)
    beta = torch.tensor(1.5, dtype=dtype)
    got_x, got_beta = vmap(grad(lambda xi, b: B.sgblend(xi, 0.3, b, 0.1), argnums=(0, 1)), in_dims=(0, None))(x, beta)
    xe = x.clone().requires_grad_()
    betas = beta.expand(x.shape).clone().requires_grad_()
    B.sgblend(xe, 0.3, betas, 0.1).backward(torch.ones_like(xe))
    assert got_x.dtype == dtype and torch.equal(got_x, xe.grad) and torch.equal(got_beta, betas.grad)
    _, tangent = jvp(lambda xi: B.sgblend(xi, 0.3, beta, 0.1), (x,), (torch.ones_like(x),))
    assert tangent.dtype == dtype and torch.equal(tangent, xe.grad)


def test_bad_parameter_under_a_transform_is_the_eager_value_error():
    beta = torch.tensor([1.0, float("nan"), 2.0], dtype=torch.float64)
    with pytest.raises(ValueError, match="beta"):
        vmap(lambda x, b: B.sgblend(x, 0.3, b, 0.1))(torch.randn(3, 4, dtype=torch.float64), beta)
    with pytest.raises(ValueError, match="lam"):
        grad(lambda lam: B.lambda_gelu(X, lam).sum())(torch.tensor(0.5, dtype=torch.float64))


def test_transforms_use_the_eager_kernels_when_compiling_is_on(monkeypatch):
    """The compiled kernels take plain tensors only: under a transform the eager ones run."""
    monkeypatch.setattr(B, "COMPILE", True)
    monkeypatch.setattr(B, "COMPILE_MIN_NUMEL", 0)
    from sgblend_spec.backends.torch import kernels

    monkeypatch.setattr(kernels, "COMPILED", {})
    got = vmap(grad(lambda x: B.gelu_tanh(x)))(X)
    assert not kernels.COMPILED
    monkeypatch.setattr(B, "COMPILE", False)
    assert torch.equal(got, _eager_partials("gelu_tanh")["x"])


def test_export_keeps_working():
    model = _model(B.SGBlend(beta=1.0, num_parameters=4))
    x = torch.randn(5, 3, dtype=torch.float64)
    exported = torch.export.export(model, (x,))
    assert torch.equal(exported.module()(x), model(x))
