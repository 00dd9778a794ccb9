"""nn.Modules of sgblend_spec.backends.torch: init, repr, state, constraints, compile."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from sgblend_spec import spec
from sgblend_spec.backends import torch as B


def test_sgblend_default_is_authors_layer():
    torch.manual_seed(0)
    draws = torch.cat([B.SGBlend().beta.detach() for _ in range(200)])
    assert draws.min() >= -math.sqrt(3) and draws.max() <= math.sqrt(3)
    assert draws.min() < -1.0 and draws.max() > 1.0  # spread over U(-√3, √3), negatives included
    m = B.SGBlend.authors()
    assert m.function == "sgblend" and m.alpha.item() == 0.0 and m.gamma.item() == 0.0
    assert set(dict(m.named_parameters())) == {"alpha", "beta", "gamma"}
    assert m.alpha.shape == m.beta.shape == m.gamma.shape == (1,)
    with pytest.raises(TypeError, match="beta"):
        B.SGBlend.authors(beta=1.0)


def test_sgblend_explicit_values_are_deterministic():
    m = B.SGBlend(alpha=0.5, beta=2.0, gamma=-0.25)
    assert (m.alpha.item(), m.beta.item(), m.gamma.item()) == (0.5, 2.0, -0.25)
    x = torch.linspace(-4, 4, 9)
    assert torch.equal(m(x), B.sgblend(x, 0.5, 2.0, -0.25))


@pytest.mark.parametrize("gelu, function", [("sigmoid", "sgblend"), ("exact", "sgblend_gelu"), ("tanh", "sgblend_gelu_tanh")])
def test_sgblend_variants(gelu, function):
    m = B.SGBlend(beta=1.5, gelu=gelu)
    x = torch.linspace(-4, 4, 9)
    assert torch.equal(m(x), getattr(B, function)(x, 0.0, 1.5, 0.0))
    assert f"gelu={gelu!r}" in repr(m)


def test_constructor_errors_name_parameter_and_interval():
    with pytest.raises(ValueError, match=r"beta.*\[0\.1, 10\]"):
        B.SGBlend(beta=20.0)
    with pytest.raises(ValueError, match=r"beta.*\[0\.1, 10\]"):
        B.SSwish(beta=0.05)
    with pytest.raises(ValueError, match=r"alpha.*\[-1, 1\]"):
        B.SGBlend(alpha=2.0)
    with pytest.raises(ValueError, match="lam"):
        B.LambdaGELU(lam=0.5)
    with pytest.raises(ValueError, match="gelu"):
        B.SGBlend(gelu="erf")
    with pytest.raises(ValueError, match="approximate"):
        B.GELU(approximate="fast")
    with pytest.raises(ValueError, match="num_parameters"):
        B.SGBlend(num_parameters=0)
    with pytest.raises(ValueError, match="beta"):
        B.Swish(beta=-1.0)


def test_lambda_gelu_reparameterisation():
    m = B.LambdaGELU(lam=2.5)
    assert m.rho.item() == pytest.approx(math.sqrt(1.5))
    assert m.lam.item() == pytest.approx(2.5)
    assert list(dict(m.named_parameters())) == ["rho"]
    with pytest.raises(AttributeError):
        m.lam = torch.tensor(3.0)
    default = B.LambdaGELU()
    assert default.lam.item() == pytest.approx(spec.FUNCTIONS["lambda_gelu"].parameter("lam").default)
    x = torch.linspace(-3, 3, 7, dtype=torch.float64)
    m64 = B.LambdaGELU(lam=2.5, dtype=torch.float64)
    y = m64(x)
    assert torch.allclose(y, B.lambda_gelu(x, 2.5), rtol=1e-12, atol=0)
    y.sum().backward()
    assert m64.rho.grad is not None and m64.rho.grad.shape == (1,)
    # λ = 1 exactly is reachable (ρ = 0) and gives the exact GELU.
    assert torch.equal(B.LambdaGELU(lam=1.0)(x), B.gelu(x))


def test_repr():
    assert repr(B.SGBlend(beta=1.0)) == (
        "SGBlend(num_parameters=1, gelu='sigmoid', alpha_init=0.0, beta_init=1.0, gamma_init=0.0, precision='fast')"
    )
    assert "beta_init=glorot_uniform" in repr(B.SSwish())
    assert repr(B.LambdaGELU(lam=2.5, num_parameters=4)) == "LambdaGELU(num_parameters=4, lam_init=2.5, precision='fast')"
    assert repr(B.GELU("tanh")) == "GELU(approximate='tanh', precision='fast')"
    assert repr(B.Swish(2.0)) == "Swish(beta=2.0, precision='fast')"


@pytest.mark.parametrize("make", [lambda: B.SGBlend(), lambda: B.SSwish(), lambda: B.LambdaGELU(lam=3.0)])
def test_state_dict_round_trip_and_reset(make):
    torch.manual_seed(1)
    a, b = make(), make()
    with torch.no_grad():
        for p in a.parameters():
            p.add_(0.37)
    b.load_state_dict(a.state_dict())
    x = torch.randn(5, 3)
    assert torch.equal(a(x), b(x))
    initial = {k: v.clone() for k, v in make().state_dict().items()}
    a.reset_parameters()
    for key, value in a.state_dict().items():
        if key == "beta":  # a fresh glorot draw, inside its interval
            assert value.abs().max() <= math.sqrt(3)
        else:
            assert torch.equal(value, initial[key]), key


def test_factory_kwargs():
    m = B.SGBlend(beta=1.0, num_parameters=3, dtype=torch.float64)
    assert all(p.dtype == torch.float64 and p.shape == (3,) for p in m.parameters())
    meta = B.LambdaGELU(device="meta")
    assert meta.rho.device.type == "meta"


def test_float32_parameters_with_float64_input():
    m = B.SGBlend(beta=1.0)
    x = torch.randn(4, dtype=torch.float64, requires_grad=True)
    y = m(x)
    assert y.dtype == torch.float64
    y.sum().backward()
    assert m.alpha.grad.dtype == torch.float32 and x.grad.dtype == torch.float64


def test_per_channel_broadcasts_along_dim_1():
    torch.manual_seed(2)
    m = B.SGBlend(beta=1.0, num_parameters=3)
    with torch.no_grad():
        m.alpha.copy_(torch.tensor([-0.5, 0.0, 0.5]))
        m.beta.copy_(torch.tensor([0.5, 1.0, 2.0]))
    x = torch.randn(2, 3, 4, 5)
    y = m(x)
    for c in range(3):
        expected = B.sgblend(x[:, c], m.alpha[c].item(), m.beta[c].item(), 0.0)
        assert torch.equal(y[:, c], expected)
    y.sum().backward()
    assert m.alpha.grad.shape == (3,) and m.beta.grad.shape == (3,)
    with pytest.raises(ValueError, match="channels on dim 1"):
        m(torch.randn(2, 4, 5))
    with pytest.raises(ValueError, match="channels on dim 1"):
        m(torch.randn(3))
    lam = B.LambdaGELU(num_parameters=3)
    assert lam(torch.randn(2, 3)).shape == (2, 3)


def test_constraints_applied_after_optimizer_step():
    model = torch.nn.Sequential(B.SGBlend(beta=1.0), B.SSwish(beta=1.0), B.LambdaGELU())
    optimizer = torch.optim.SGD(model.parameters(), lr=1e6)
    handle = B.register_constraints(optimizer, model)
    x = torch.linspace(-3, 3, 50)
    for sign in (1.0, -1.0):
        optimizer.zero_grad()
        (sign * model(x).sum()).backward()
        optimizer.step()
        sgblend, sswish, lam = model
        assert -1.0 <= sgblend.alpha.item() <= 1.0
        assert 0.1 <= sgblend.beta.item() <= 10.0 and 0.1 <= sswish.beta.item() <= 10.0
        assert lam.lam.item() >= 1.0
    # The huge step really hit the bound; Keras MinMaxNorm leaves |α| = |α|/(1e-7 + |α|) < 1.
    assert abs(sgblend.alpha.item()) == pytest.approx(1.0, abs=2e-7) and abs(sgblend.alpha.item()) < 1.0
    handle.remove()  # no projection any more
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    model[0].alpha.grad.fill_(-1.0)
    optimizer.step()
    assert model[0].alpha.item() > 1.0


def test_authors_negative_beta_is_used_until_projected():
    m = B.SGBlend.authors()
    with torch.no_grad():
        m.beta.fill_(-1.2)
    x = torch.linspace(-2, 2, 5)
    assert torch.equal(m(x), B.sgblend(x, 0.0, -1.2, 0.0))
    m.project_()
    assert m.beta.item() == pytest.approx(0.1)


def test_gelu_and_swish_modules_match_torch():
    x = torch.linspace(-6, 6, 101, dtype=torch.float64)
    assert torch.allclose(B.GELU()(x), F.gelu(x), rtol=1e-12, atol=1e-15)
    assert torch.allclose(B.GELU("tanh")(x), F.gelu(x, approximate="tanh"), rtol=1e-12, atol=1e-15)
    assert torch.allclose(B.GELU("sigmoid")(x), x * torch.sigmoid(1.702 * x), rtol=1e-12, atol=1e-15)
    assert torch.allclose(B.Swish()(x), F.silu(x), rtol=1e-12, atol=1e-15)


def test_invalid_parameter_is_reported_where_parameters_change():
    """A module checks its parameters where they change (issue #17: no host read per call):
    the constraint hook after a step, or check_parameters_(); the forward itself gives NaN."""
    m = B.SGBlend(beta=1.0)
    with torch.no_grad():
        m.beta.fill_(math.nan)
    with pytest.raises(ValueError, match="beta"):
        m.check_parameters_()
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    B.register_constraints(opt, m)
    with pytest.raises(ValueError, match="beta"):
        opt.step()
    assert torch.isnan(m(torch.randn(3))).all()


def _compiled_matches_eager(model, x, **compile_options):
    model.zero_grad()
    compiled = torch.compile(model, fullgraph=True, **compile_options)
    out = compiled(x)
    out.sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    expected = model(x)
    expected.sum().backward()
    assert torch.allclose(out, expected, rtol=1e-5, atol=1e-6)
    for g, p in zip(grads, model.parameters()):
        assert torch.allclose(g, p.grad, rtol=1e-4, atol=1e-6)


def test_torch_compile_fullgraph_no_graph_break():
    """A model using the modules compiles as one graph, forward and backward: every module
    and function traced and differentiated by AOTAutograd, and one of them through Inductor
    (which takes ~15 s per activation with an empty cache, ~170 s for this whole model;
    test_reliability compiles λ-GELU with Inductor too)."""
    import torch._dynamo

    torch._dynamo.reset()
    torch.manual_seed(3)
    class Functional(torch.nn.Module):  # the functional API with Python-number parameters
        def forward(self, x):
            return B.gelu_tanh(x) + B.sgblend(x, 0.5, 2.0, 0.1) + B.lambda_gelu(x, 3.0)

    model = torch.nn.Sequential(
        torch.nn.Linear(4, 6), B.SGBlend(beta=1.0), torch.nn.Linear(6, 6), B.LambdaGELU(lam=2.0),
        B.SSwish(beta=1.5, num_parameters=6), Functional(), torch.nn.Linear(6, 1),
    )
    x = torch.randn(5, 4)
    explanation = torch._dynamo.explain(model)(x)
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1
    _compiled_matches_eager(model, x, backend="aot_eager")
    torch._dynamo.reset()
    _compiled_matches_eager(torch.nn.Sequential(model[0], model[1], torch.nn.Linear(6, 1)), x)


def test_scalar_alpha_projection_is_keras_min_max_norm_with_its_epsilon():
    """Inside [-1, 1] the authors' constraint still moves α by about 1e-7 per step."""
    act = B.SGBlend(alpha=0.5, beta=1.0, dtype=torch.float64)
    act.project_()
    assert act.alpha.item() == 0.5 * 0.5 / (1e-7 + 0.5)
