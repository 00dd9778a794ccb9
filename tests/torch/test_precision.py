"""The precision tiers (issue #16 item 5) and no host reads per module call (issue #17 item 3).

Each public function in both tiers against the NumPy reference in the same tier; "fast"
computes float32 in float32 (no float64 op anywhere, eager or compiled); the default is
"fast"; a bad tier is a ValueError; the modules keep their tier in repr and state_dict.
"""

from __future__ import annotations

import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from sgblend_spec import reference, spec
from sgblend_spec.backends import torch as B
from sgblend_spec.backends.torch import contract, kernels

sys.path.extend({str(Path(__file__).resolve().parents[1] / "_shared")} - set(sys.path))  # tests/_shared: helpers

from precision_tiers import (  # noqa: E402
    GRID, NARROW, NP, POINT, check_against_reference, check_default_tier_is_fast, ulps,
)


def _tensor(a: np.ndarray) -> torch.Tensor:
    return contract.from_numpy(a)


def _numpy(t: torch.Tensor, dtype: str) -> np.ndarray:
    t = t.detach()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy().astype(NP[dtype])


def _all(name, dtype, precision):
    """(value, {x, params: per-element partials}, dxx) from torch in ``precision``."""
    names = spec.FUNCTIONS[name].param_names
    x_np = GRID.astype(NP[dtype])
    x = _tensor(x_np).requires_grad_()
    params = {n: torch.full(x.shape, POINT[n], dtype=x.dtype, requires_grad=True) for n in names}
    y = getattr(B, name)(x, **params, precision=precision)
    grads = torch.autograd.grad(y.sum(), [x, *params.values()], create_graph=True)
    (fxx,) = torch.autograd.grad(grads[0].sum(), x)
    return x_np, y, dict(zip(("x", *names), grads)), fxx


@pytest.mark.parametrize("precision", spec.PRECISIONS)
@pytest.mark.parametrize("dtype", NARROW)
@pytest.mark.parametrize("name", list(spec.FUNCTIONS))
def test_each_function_matches_the_reference_in_its_tier(name, dtype, precision):
    x_np, y, grads, fxx = _all(name, dtype, precision)
    assert y.dtype == _tensor(x_np).dtype
    partials = {q: _numpy(g, dtype) for q, g in grads.items()}
    check_against_reference(name, x_np, _numpy(y, dtype), partials, _numpy(fxx, dtype), dtype, precision)


@pytest.mark.parametrize("name", ["sgblend", "lambda_gelu"])
def test_float64_is_float64_in_both_tiers(name):
    x = torch.linspace(-30, 30, 201, dtype=torch.float64)
    assert torch.equal(getattr(B, name)(x, precision="fast"), getattr(B, name)(x, precision="exact"))


def test_default_is_fast_and_shown_in_every_signature():
    check_default_tier_is_fast(B)
    x = torch.linspace(-40, 40, 101)
    assert torch.equal(B.sgblend(x, 0.1, 1.3), B.sgblend(x, 0.1, 1.3, precision="fast"))
    for module in (B.SGBlend(), B.SSwish(), B.LambdaGELU(), B.GELU(), B.Swish()):
        assert module.precision == "fast"


@pytest.mark.parametrize("make", [
    lambda p: B.sgblend(torch.ones(2), precision=p),
    lambda p: B.functional.evaluate("gelu", torch.ones(2), {}, p),
    lambda p: B.SGBlend(precision=p),
    lambda p: B.LambdaGELU(precision=p),
    lambda p: B.GELU(precision=p),
    lambda p: B.Swish(precision=p),
])
@pytest.mark.parametrize("bad", ["float32", None, "Fast"])
def test_bad_precision_names_the_argument_and_the_choices(make, bad):
    with pytest.raises(ValueError, match=r"precision must be one of \['exact', 'fast'\]"):
        make(bad)


class Float64Ops(TorchDispatchMode):
    """Records every op that reads or writes a float64 tensor."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        flat = torch.utils._pytree.tree_leaves((args, kwargs, out))
        if any(isinstance(t, torch.Tensor) and t.dtype == torch.float64 for t in flat):
            self.seen.append(str(func))
        return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", list(spec.FUNCTIONS))
def test_fast_tier_runs_no_float64_op_eagerly(name, dtype):
    """Value, backward, double backward and jvp of the fast tier: float32 arithmetic only."""
    x = torch.linspace(-12, 12, 33, dtype=dtype).requires_grad_()
    params = {n: torch.tensor(POINT[n], dtype=dtype, requires_grad=True) for n in spec.FUNCTIONS[name].param_names}
    with Float64Ops() as mode:
        y = getattr(B, name)(x, **params)
        grads = torch.autograd.grad(y.sum(), [x, *params.values()], create_graph=True)
        torch.autograd.grad(grads[0].sum(), [x, *params.values()], allow_unused=True)
        torch.func.jvp(lambda t: getattr(B, name)(t, **{k: v.detach() for k, v in params.items()}),
                       (x.detach(),), (torch.ones_like(x),))
    assert not mode.seen
    assert all(g.dtype == dtype for g in grads)
    with Float64Ops() as mode:
        getattr(B, name)(x.detach(), precision="exact")
    assert mode.seen  # the exact tier does use float64: the check sees it


@pytest.mark.parametrize("name", ["sgblend", "lambda_gelu"])
def test_compiled_fast_kernels_have_no_float64_node(name):
    """The graphs torch.compile builds for the fast tier's kernels hold no float64 value."""
    graphs = []

    def record(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    x = torch.randn(64)
    params = tuple(torch.tensor(POINT[n]) for n in spec.FUNCTIONS[name].param_names)
    for kind, args in (("value", (x, params)), ("grad", ((True,) * (1 + len(params)), torch.ones_like(x), x, params))):
        for precision in spec.PRECISIONS:
            graphs.clear()
            torch._dynamo.reset()
            torch.compile(kernels.specialised(kind, name, precision), backend=record, fullgraph=True)(*args)
            dtypes = {node.meta["example_value"].dtype for gm in graphs for node in gm.graph.nodes
                      if isinstance(node.meta.get("example_value"), torch.Tensor)}
            assert (torch.float64 in dtypes) == (precision == "exact"), (kind, precision, dtypes)


def test_compiled_kernels_are_cached_per_function_and_tier(monkeypatch):
    monkeypatch.setattr(B, "COMPILE", True)
    monkeypatch.setattr(B, "COMPILE_MIN_NUMEL", 0)
    monkeypatch.setattr(kernels, "COMPILED", {})
    x = torch.randn(256)
    fast, exact = B.swish(x, 1.5), B.swish(x, 1.5, precision="exact")
    assert {("value", "swish", "fast"), ("value", "swish", "exact")} <= set(kernels.COMPILED)
    assert not kernels.COMPILE_FAILED
    monkeypatch.setattr(B, "COMPILE", False)
    # inductor's float32 exp is not ATen's: the compiled fast kernel is within the tier's bound.
    assert ulps(fast.numpy(), B.swish(x, 1.5).numpy(), "float32") <= spec.ulp_bound("value", "float32", "fast")
    assert ulps(exact.numpy(), B.swish(x, 1.5, precision="exact").numpy(), "float32") <= 1


def test_parameter_gradients_reduce_in_the_working_dtype_and_round_once():
    x = torch.randn(4, 3, 5)
    beta = torch.full((3, 1), 1.5, dtype=torch.float64, requires_grad=True)
    B.sswish(x, beta, 0.1).sum().backward()
    assert beta.grad.dtype == torch.float64 and beta.grad.shape == (3, 1)
    want = reference.sswish_grad(x.numpy(), beta=1.5, gamma=0.1, precision="fast")["beta"].astype(np.float64)
    np.testing.assert_allclose(beta.grad.reshape(-1).numpy(), want.sum(axis=(0, 2)), rtol=1e-5)


def test_vmap_and_torch_func_carry_the_tier():
    x = torch.randn(3, 7)
    for precision in spec.PRECISIONS:
        batched = torch.func.vmap(lambda t: B.lambda_gelu(t, 1.75, precision=precision))(x)
        assert torch.equal(batched, B.lambda_gelu(x, 1.75, precision=precision))
        g = torch.func.grad(lambda t: B.lambda_gelu(t, 1.75, precision=precision).sum())(x)
        leaf = x.clone().requires_grad_()
        (want,) = torch.autograd.grad(B.lambda_gelu(leaf, 1.75, precision=precision).sum(), leaf)
        assert torch.equal(g, want)
    # the tiers differ somewhere (on 21 random points they agreed in ~5 % of draws: a flaky check)
    wide = torch.linspace(-9, 9, 4097)
    assert not torch.equal(B.lambda_gelu(wide, 1.75), B.lambda_gelu(wide, 1.75, precision="exact"))


def test_exact_without_float64_on_the_device_is_an_error(monkeypatch):
    """MPS has no float64: exact is an error naming the cause and the fix (CPU stands in)."""
    monkeypatch.setattr(contract, "NO_FLOAT64_DEVICES", ("cpu",))
    with pytest.raises(RuntimeError, match=r"precision='exact' needs float64.*precision='fast'"):
        B.sgblend(torch.ones(3), precision="exact")
    B.sgblend(torch.ones(3))  # fast works


# ----------------------------------------------------------------------------- modules
@pytest.mark.parametrize("make", [lambda **k: B.SGBlend(beta=1.0, **k), lambda **k: B.SSwish(beta=1.0, **k),
                                  lambda **k: B.LambdaGELU(**k), lambda **k: B.GELU("tanh", **k),
                                  lambda **k: B.Swish(1.5, **k)])
def test_module_keeps_its_tier_in_repr_and_state_dict(make):
    exact = make(precision="exact")
    assert "precision='exact'" in repr(exact)
    state = exact.state_dict()
    fresh = make()
    fresh.load_state_dict(state)
    assert fresh.precision == "exact"
    x = torch.linspace(-9, 9, 19)
    assert torch.equal(fresh(x), exact(x))
    # A state_dict saved before the tiers existed (no extra state) loads and keeps the module's tier.
    old = {k: v for k, v in state.items() if not k.endswith("_extra_state")}
    kept = make()
    kept.load_state_dict(old)
    assert kept.precision == "fast"
    # Through torch.save / torch.load too.
    import io
    buffer = io.BytesIO()
    torch.save(exact.state_dict(), buffer)
    buffer.seek(0)
    again = make()
    again.load_state_dict(torch.load(buffer))
    assert again.precision == "exact"


def test_module_call_reads_nothing_back_from_its_parameters(monkeypatch):
    """Forward and backward of a module make no .item()/bool()/float() read (issue #17 item 3)."""
    modules = [B.SGBlend(beta=1.0, num_parameters=3), B.SSwish(), B.LambdaGELU(num_parameters=3)]
    x = torch.randn(2, 3, 5, requires_grad=True)

    def refuse(*args, **kwargs):
        raise AssertionError("host read of a tensor during a module call")

    for module in modules:
        with monkeypatch.context() as m:
            for attribute in ("__bool__", "item", "__float__", "tolist"):
                m.setattr(torch.Tensor, attribute, refuse)
            y = module(x)
            y.sum().backward()
        assert all(p.grad is not None for p in module.parameters())


def test_functional_tensor_parameters_still_checked_eagerly_on_cpu():
    with pytest.raises(ValueError, match="'lam'"):
        B.lambda_gelu(torch.ones(3), torch.tensor(0.5))
