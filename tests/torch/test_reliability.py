"""Issue #9 for the PyTorch backend, what is specific to it: state-dict loading, a module cast
to complex, torch.compile's asserts and compiled kernels, the per-channel module's channel
count. What every backend shares is tests/contract (SGBLEND_TEST_BACKEND=torch)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sgblend_spec import spec
from sgblend_spec.backends import torch as B
from sgblend_spec.backends.torch import kernels

NAN, INF = math.nan, math.inf


def _bits(t: torch.Tensor) -> np.ndarray:
    """Bit patterns of a tensor (every NaN one pattern), for bitwise comparisons."""
    t = t.detach().cpu().contiguous()
    wide = t.to(torch.float64).numpy()
    ints = {2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()]
    bits = t.view(ints).numpy().copy()
    bits[np.isnan(wide)] = 0
    return bits


def _value_and_grads(name: str, x: torch.Tensor, params: dict) -> list[torch.Tensor]:
    """f and the gradients of f.sum() in x and every tensor parameter (leaves are cloned)."""
    x = x.detach().clone().requires_grad_()
    leaves = {k: v.detach().clone().requires_grad_() if isinstance(v, torch.Tensor) else v for k, v in params.items()}
    y = getattr(B, name)(x, **leaves)
    inputs = [x] + [v for v in leaves.values() if isinstance(v, torch.Tensor)]
    return [y.detach(), *torch.autograd.grad(y.sum(), inputs)]


# ============================================================================ parameters
# (bad values in every form, types, constructor errors, a corrupted parameter and the authors'
# checkpoint: tests/contract/test_parameters.py)
@pytest.mark.filterwarnings("ignore:Complex modules are a new feature")
@pytest.mark.parametrize("function", ["sswish", "sgblend", "lambda_gelu"])
def test_module_cast_to_complex_is_a_type_error(function):
    """Clause "param.dtype" at call time: Module.to(complex) casts floating parameters to
    complex; the next forward pass is a TypeError."""
    layer = {"sswish": B.SSwish(beta=1.0), "sgblend": B.SGBlend(beta=1.0), "lambda_gelu": B.LambdaGELU()}[function]
    raw = {"sswish": "beta", "sgblend": "gamma", "lambda_gelu": "rho"}[function]
    complex_layer = layer.to(torch.complex64)
    if getattr(complex_layer, raw).is_complex():
        with pytest.raises(TypeError, match="real floating point"):
            complex_layer(torch.randn(4))
LOAD_ERRORS = [
    ("beta", torch.tensor([NAN]), ValueError, "'beta' must be finite"),
    ("beta", torch.tensor([INF]), ValueError, "'beta' must be finite"),
    ("gamma", torch.tensor([-INF]), ValueError, "'gamma' must be finite"),
    ("alpha", torch.tensor([1]), TypeError, "'alpha' must be real floating point"),
    ("alpha", torch.tensor([1 + 0j]), TypeError, "'alpha' must be real floating point"),
    ("beta", torch.tensor([1.0, 2.0]), ValueError, r"'beta' has shape \(2,\)"),
]


@pytest.mark.parametrize("key, value, error, match", LOAD_ERRORS, ids=[f"{k}-{v.dtype}-{v.shape}" for k, v, _, _ in
                                                                     LOAD_ERRORS])
def test_state_dict_with_a_bad_parameter_is_rejected_and_the_module_kept(key, value, error, match):
    """Clause "layer.load" for load_state_dict and import_parameters."""
    module = B.SGBlend(beta=1.0, gamma=0.25)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    with pytest.raises(error, match=match):
        module.load_state_dict({**before, key: value})
    with pytest.raises(error, match=key):
        B.import_parameters(module, {**{k: v.numpy() for k, v in before.items()}, key: value.numpy()})
    for k, v in module.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_rho_whose_lambda_overflows_is_rejected_on_load():
    module = B.LambdaGELU(dtype=torch.float64)
    with pytest.raises(ValueError, match=r"'rho'.*lam.*\[1, inf\)"):
        module.load_state_dict({"rho": torch.tensor([1e200], dtype=torch.float64)})


# ============================================================================ compiled code
def test_compiled_region_asserts_on_an_out_of_domain_tensor_parameter():
    """Clause "compiled": inside torch.compile (fullgraph, no graph break) a tensor parameter
    is checked by torch._assert_async: a RuntimeError naming it, never a number; in-domain
    values give the eager result bitwise."""
    torch._dynamo.reset()
    compiled = torch.compile(lambda x, lam: B.lambda_gelu(x, lam=lam), fullgraph=True, dynamic=False)
    x = torch.linspace(-4, 4, 9)
    good = torch.tensor(1.75)
    assert torch.equal(compiled(x, good), B.lambda_gelu(x, lam=good))
    for bad in (0.5, NAN, INF):
        with pytest.raises(RuntimeError, match=r"'lam' must be a finite value in \[1, inf\)"):
            compiled(x, torch.tensor(bad))


# ============================================================================ inputs
# (x's type and dtype, 0-d, empty and strided x, per-channel and mixed-dtype parameters, special
# values, the SiLU tail: tests/contract/test_inputs.py; stress training, determinism across
# thread counts: tests/contract/test_training.py, test_determinism.py)
def test_module_with_another_channel_count_names_num_parameters():
    """Clause "param.shape" for a per-channel module (parameters along dim 1)."""
    module = B.SGBlend(beta=1.0, num_parameters=4)
    with pytest.raises(ValueError, match="num_parameters=4"):
        module(torch.randn(2, 3, 4))


# ============================================================================ determinism
def test_compiled_kernels_are_bitwise_deterministic_across_thread_counts(monkeypatch):
    """The same clause for the compiled kernels that large inputs use by default."""
    monkeypatch.setattr(B, "COMPILE", True)
    monkeypatch.setattr(B, "COMPILE_MIN_NUMEL", 0)
    x = torch.randn(1 << 18, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * 5
    params = {k: torch.tensor(v + 0.3, dtype=torch.float64) for k, v in spec.FUNCTIONS["sgblend"].defaults.items()}
    threads = torch.get_num_threads()
    try:
        runs = []
        for n in (1, 2, 2):
            torch.set_num_threads(n)
            runs.append([_bits(t) for t in _value_and_grads("sgblend", x.float(), params)])
    finally:
        torch.set_num_threads(threads)
    assert {("value", "sgblend", "fast"), ("grad", "sgblend", "fast")} <= set(kernels.COMPILED)
    assert not kernels.COMPILE_FAILED
    for a, b, c in zip(*runs):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(b, c)
