"""Functional API and autograd of sgblend_spec.backends.torch."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from sgblend_spec import reference, spec
from sgblend_spec.backends import torch as B
from sgblend_spec.backends.torch import kernels, numerics

FUNCTIONS = list(spec.FUNCTIONS)
#: A point inside every parameter's domain (and inside the layer constraints).
POINT = {"alpha": 0.3, "beta": 1.3, "gamma": 0.2, "lam": 1.7}
DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
_INT_VIEW = {torch.float16: torch.int16, torch.bfloat16: torch.int16, torch.float32: torch.int32,
             torch.float64: torch.int64}


def _call(name, x, params, precision="exact"):
    """The exact tier, whose bounds these tests check (tests/torch/test_precision.py: both tiers)."""
    return getattr(B, name)(x, **params, precision=precision)


def _ordinal(t: torch.Tensor) -> torch.Tensor:
    """Map floats to integers that are consecutive for consecutive floats (ULP distance)."""
    i = t.contiguous().view(_INT_VIEW[t.dtype]).to(torch.int64)
    sign_bit = {torch.int16: 1 << 15, torch.int32: 1 << 31, torch.int64: 1 << 63}[_INT_VIEW[t.dtype]]
    return torch.where(i < 0, -(i + sign_bit) if sign_bit != 1 << 63 else -(i & ((1 << 63) - 1)), i)


def _ulps(a: torch.Tensor, b: torch.Tensor) -> int:
    return int((_ordinal(a) - _ordinal(b)).abs().max())


def _from_numpy(arr: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    if dtype == torch.bfloat16:
        return torch.from_numpy(np.ascontiguousarray(arr).view(np.int16).copy()).view(torch.bfloat16)
    return torch.from_numpy(np.ascontiguousarray(arr).copy())


def _np_dtype(dtype):
    return reference.supported_dtypes()[str(dtype).removeprefix("torch.")]


# ----------------------------------------------------------------------------- autograd checks
@pytest.mark.parametrize("name", FUNCTIONS)
def test_gradcheck_scalar_tensor_parameters(name):
    names = spec.FUNCTIONS[name].param_names
    x = torch.tensor([-7.0, -2.5, -0.3, 0.0, 0.4, 1.9, 6.0], dtype=torch.float64, requires_grad=True)
    params = [torch.tensor(POINT[n], dtype=torch.float64, requires_grad=True) for n in names]

    def f(x, *p):
        return _call(name, x, dict(zip(names, p)))

    assert gradcheck(f, (x, *params))
    assert gradgradcheck(f, (x, *params))


@pytest.mark.parametrize("name", [n for n in FUNCTIONS if spec.FUNCTIONS[n].params])
def test_gradcheck_per_channel_parameters(name):
    names = spec.FUNCTIONS[name].param_names
    gen = torch.Generator().manual_seed(1)
    x = (3 * torch.randn(2, 3, 4, generator=gen, dtype=torch.float64)).requires_grad_()
    params = [(POINT[n] + 0.2 * torch.rand(3, 1, generator=gen, dtype=torch.float64)).requires_grad_() for n in names]

    def f(x, *p):
        return _call(name, x, dict(zip(names, p)))

    assert gradcheck(f, (x, *params))
    assert gradgradcheck(f, (x, *params))


def test_gradgradcheck_at_zero_alpha_and_zero_x():
    """α = 0 and x = 0 are where a zero derivative of |u| would break the mixed partials."""
    x = torch.tensor([0.0, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    alpha = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    beta = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    gamma = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    assert gradgradcheck(lambda *a: B.sgblend(*a), (x, alpha, beta, gamma))


@pytest.mark.parametrize("name", FUNCTIONS)
def test_gradcheck_python_float_parameters(name):
    x = torch.tensor([-3.0, -0.5, 0.0, 0.7, 4.0], dtype=torch.float64, requires_grad=True)
    params = {n: POINT[n] for n in spec.FUNCTIONS[name].param_names}
    assert gradcheck(lambda x: _call(name, x, params), (x,))
    assert gradgradcheck(lambda x: _call(name, x, params), (x,))


@pytest.mark.parametrize("name", FUNCTIONS)
def test_second_derivative_at_zero_matches_spec(name):
    params = {n: POINT[n] for n in spec.FUNCTIONS[name].param_names}
    x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    (fx,) = torch.autograd.grad(_call(name, x, params).sum(), x, create_graph=True)
    (fxx,) = torch.autograd.grad(fx.sum(), x)
    expected = spec.FUNCTIONS[name].at_zero(params)
    assert fx.item() == pytest.approx(expected["x"], rel=1e-15)
    assert fxx.item() == pytest.approx(expected["dxx"], rel=1e-14)


def test_parameter_gradient_reduced_to_parameter_shape_and_dtype():
    x = torch.randn(4, 3, 5, dtype=torch.float32)
    beta = torch.full((3, 1), 1.5, dtype=torch.float64, requires_grad=True)
    gamma = torch.tensor(0.1, dtype=torch.float32, requires_grad=True)
    y = B.sswish(x, beta, gamma, precision="exact")
    assert y.dtype == torch.float32 and y.shape == x.shape
    y.sum().backward()
    assert beta.grad.shape == (3, 1) and beta.grad.dtype == torch.float64
    assert gamma.grad.shape == () and gamma.grad.item() == pytest.approx(-x.numel())
    expected = reference.sswish_grad(x.double().numpy(), beta=1.5, gamma=0.1)["beta"].sum(axis=(0, 2))
    np.testing.assert_allclose(beta.grad.reshape(-1).numpy(), expected, rtol=1e-12)


# ----------------------------------------------------------------------------- accuracy
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["sgblend", "lambda_gelu", "gelu_tanh", "swish"])
def test_agrees_with_reference_within_bounds(name, dtype):
    """Within the spec's ULP bounds of the NumPy reference (the same formulas, rounded once)."""
    params = {n: POINT[n] for n in spec.FUNCTIONS[name].param_names}
    grid = np.concatenate([-np.logspace(-4, 1.5, 40), [0.0], np.logspace(-4, 1.5, 40)])
    x_np = grid.astype(_np_dtype(dtype))
    x = _from_numpy(x_np, dtype).requires_grad_()
    y = _call(name, x, params)
    (fx,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    (fxx,) = torch.autograd.grad(fx.sum(), x)
    dt = str(dtype).removeprefix("torch.")
    assert _ulps(y.detach(), _from_numpy(getattr(reference, name)(x_np, **params), dtype)) <= spec.ulp_bound("value", dt)
    ref_grad = getattr(reference, f"{name}_grad")(x_np, **params)
    assert _ulps(fx.detach(), _from_numpy(ref_grad["x"], dtype)) <= spec.ulp_bound("x", dt)
    ref_dxx = getattr(reference, f"{name}_dxx")(x_np, **params)
    assert _ulps(fxx, _from_numpy(ref_dxx, dtype)) <= spec.ulp_bound("dxx", dt)


def test_bfloat16_rounds_once():
    """float64 → bfloat16 through float32 would round twice; the backend must not."""
    true = torch.tensor([1 + 2**-8 + 2**-30, -(1 + 2**-8 + 2**-30), 3.0, 2**-130], dtype=torch.float64)
    got = numerics.round_once(true, torch.bfloat16).double()
    assert got[0] == 1 + 2**-7 and got[1] == -(1 + 2**-7) and got[2] == 3.0
    assert got[3] == 2**-130  # a bfloat16 subnormal survives the float32 step
    naive = true.to(torch.bfloat16).double()
    assert naive[0] == 1.0  # documents why the round-to-odd step is needed


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_and_shape_preserved(dtype):
    x = torch.randn(2, 3).to(dtype).requires_grad_()
    alpha = torch.tensor(0.1, dtype=dtype, requires_grad=True)
    y = B.sgblend(x, alpha, 1.0, 0.0)
    assert y.dtype == dtype and y.shape == x.shape
    y.sum().backward()
    assert x.grad.dtype == dtype and alpha.grad.dtype == dtype


def test_strided_input_matches_contiguous():
    base = torch.linspace(-6, 6, 60, dtype=torch.float32).reshape(6, 10)
    views = [base.t(), base[::2, ::3], base[:, 1::2].t()]
    for view in views:
        assert not view.is_contiguous()
        xs = view.clone().requires_grad_(False)
        strided = view.detach().requires_grad_()
        contiguous = view.contiguous().requires_grad_()
        for x in (strided, contiguous):
            B.lambda_gelu(x, 2.0).sum().backward()
        assert torch.equal(B.lambda_gelu(xs, 2.0), B.lambda_gelu(xs.contiguous(), 2.0))
        assert torch.equal(strided.grad, contiguous.grad)


def test_special_values():
    x = torch.tensor([math.inf, -math.inf, math.nan, 0.0, -0.0])
    y = B.sgblend(x, 0.0, 1.0, 0.0)
    assert y[0] == math.inf and y[1] == 0 and math.isnan(y[2]) and y[3] == 0
    assert math.copysign(1, float(y[4])) == -1.0
    assert torch.isfinite(B.lambda_gelu(torch.tensor([-1e30, 1e30]), 3.0)).all()


# ----------------------------------------------------------------------------- saved tensors
def _saved(fn):
    saved = []

    def pack(t):
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return saved, out


def test_saves_only_x_and_parameters():
    x = torch.randn(1000, requires_grad=True)
    params = [torch.tensor(v, requires_grad=True) for v in (0.0, 1.0, 0.0)]
    saved, out = _saved(lambda: B.sgblend(x, *params))
    assert len(saved) == 4
    assert saved[0].data_ptr() == x.data_ptr() and saved[0].shape == x.shape
    assert [s.data_ptr() for s in saved[1:]] == [p.data_ptr() for p in params]
    out.sum().backward()


def test_python_float_parameters_are_not_saved():
    x = torch.randn(1000, requires_grad=True)
    saved, _ = _saved(lambda: B.lambda_gelu(x, 2.0))
    assert len(saved) == 1 and saved[0].data_ptr() == x.data_ptr()


def test_half_precision_input_saved_in_its_own_dtype():
    x = torch.randn(1000, dtype=torch.bfloat16, requires_grad=True)
    saved, _ = _saved(lambda: B.swish(x, 1.0))
    assert [s.dtype for s in saved] == [torch.bfloat16]


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("x", [torch.arange(3), torch.tensor([True, False]), torch.ones(2, dtype=torch.complex64)])
def test_bad_x_dtype(x):
    with pytest.raises(TypeError, match=r"\bx\b"):
        B.sgblend(x)


def test_x_must_be_a_tensor():
    with pytest.raises(TypeError, match=r"\bx\b"):
        B.gelu([1.0, 2.0])


@pytest.mark.parametrize(
    "name, parameter, bad",
    [("lambda_gelu", "lam", 0.5), ("lambda_gelu", "lam", math.inf), ("swish", "beta", -1.0),
     ("sgblend", "alpha", math.nan), ("sswish", "gamma", -math.inf)],
)
def test_bad_parameter_value_names_parameter_and_domain(name, parameter, bad):
    domain = str(spec.FUNCTIONS[name].parameter(parameter).domain)
    x = torch.randn(3)
    for value in (bad, torch.tensor([1.5, bad]) if parameter == "lam" else torch.tensor(bad)):
        with pytest.raises(ValueError, match=parameter) as info:
            getattr(B, name)(x, **{parameter: value})
        assert domain in str(info.value)


def test_bad_parameter_type():
    x = torch.randn(3)
    with pytest.raises(TypeError, match="beta"):
        B.swish(x, beta=torch.tensor(1))
    with pytest.raises(TypeError, match="beta"):
        B.swish(x, beta="1.0")
    with pytest.raises(TypeError, match="lam"):
        B.lambda_gelu(x, lam=True)


# ----------------------------------------------------------------------------- autocast
def test_autocast_runs_in_input_dtype():
    """Not on any autocast list: a float32 input stays float32, a bfloat16 one bfloat16."""
    linear = torch.nn.Linear(4, 4)
    x = torch.randn(2, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert B.sgblend(x).dtype == torch.float32
        h = linear(x)
        assert h.dtype == torch.bfloat16
        y = B.sgblend(h)
        assert y.dtype == torch.bfloat16
    expected = B.sgblend(h.detach())
    assert torch.equal(y, expected)


# ----------------------------------------------------------------------------- compiled kernels
def test_compiled_kernels_match_eager(monkeypatch):
    """The compiled path (used by default on large inputs) gives the eager path's numbers."""
    monkeypatch.setattr(B, "COMPILE", True)
    monkeypatch.setattr(B, "COMPILE_MIN_NUMEL", 0)
    gen = torch.Generator().manual_seed(0)
    x = (4 * torch.randn(4096, generator=gen)).requires_grad_()
    beta = torch.tensor(1.3, requires_grad=True)
    y = B.sgblend(x, 0.2, beta, 0.1, precision="exact")  # the fast tier: tests/torch/test_precision.py
    y.backward(torch.ones_like(y))
    assert ("value", "sgblend", "exact") in kernels.COMPILED and not kernels.COMPILE_FAILED

    monkeypatch.setattr(B, "COMPILE", False)
    x2, beta2 = x.detach().clone().requires_grad_(), beta.detach().clone().requires_grad_()
    y2 = B.sgblend(x2, 0.2, beta2, 0.1, precision="exact")
    y2.backward(torch.ones_like(y2))
    assert _ulps(y.detach(), y2.detach()) <= 1
    assert _ulps(x.grad, x2.grad) <= 1
    assert beta.grad.item() == pytest.approx(beta2.grad.item(), rel=1e-6)


def test_compile_failure_falls_back_to_eager(monkeypatch):
    def broken_compile(fn, **kwargs):
        def run(*args):
            raise RuntimeError("no compiler here")
        return run

    monkeypatch.setattr(B, "COMPILE", True)
    monkeypatch.setattr(B, "COMPILE_MIN_NUMEL", 0)
    monkeypatch.setattr(kernels, "COMPILED", {})
    monkeypatch.setattr(kernels, "COMPILE_FAILED", set())
    monkeypatch.setattr(kernels.torch, "compile", broken_compile)
    x = torch.linspace(-3, 3, 11)
    with pytest.warns(RuntimeWarning, match="eager"):
        y = B.gelu_sigmoid(x)
    monkeypatch.setattr(B, "COMPILE", False)
    assert torch.equal(y, B.gelu_sigmoid(x))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        monkeypatch.setattr(B, "COMPILE", True)
        B.gelu_sigmoid(x)  # failed once: eager from then on, no second warning
