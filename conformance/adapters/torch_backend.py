"""Adapter for the PyTorch backend, ``sgblend_spec.backends.torch``.

Values come from the functional API; per-element partials from autograd (x and every
parameter expanded to x's shape and requiring grad, gradient of f.sum()); ∂²f/∂x² from
double backward (gradient of (∂f/∂x).sum() in x, with create_graph=True).
"""

from __future__ import annotations

import numpy as np
import torch

import sgblend_spec
from sgblend_spec import spec
from sgblend_spec.backends import torch as backend


def _to_torch(x: np.ndarray) -> torch.Tensor:
    """NumPy (ml_dtypes.bfloat16 included) to a torch tensor of the same dtype and bits."""
    x = np.array(x, copy=True, order="C")  # ascontiguousarray would turn 0-d into 1-d
    if x.dtype.name == "bfloat16":
        return torch.from_numpy(x.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(x)


def _to_numpy(t: torch.Tensor, dtype: np.dtype) -> np.ndarray:
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(dtype)
    return t.numpy()


class TorchBackend:
    name = "torch"
    version = f"sgblend_spec {sgblend_spec.__version__}, torch {torch.__version__}"
    functions = tuple(spec.FUNCTIONS)
    dtypes = spec.DTYPES
    array_parameters = True  # value() takes NumPy parameter arrays (INPUT_CONTRACT "param.shape")

    def value(self, function, x, params):
        with torch.no_grad():
            out = getattr(backend, function)(_to_torch(x), **params)
        return _to_numpy(out, x.dtype)

    def grad(self, function, x, params):
        xt = _to_torch(x).requires_grad_()
        tensors = {
            k: torch.full(xt.shape, v, dtype=xt.dtype).requires_grad_() for k, v in params.items()
        }
        out = getattr(backend, function)(xt, **tensors)
        grads = torch.autograd.grad(out.sum(), [xt, *tensors.values()])
        keys = ["x", *tensors]
        return {k: _to_numpy(g, x.dtype) for k, g in zip(keys, grads)}

    def dxx(self, function, x, params):
        xt = _to_torch(x).requires_grad_()
        out = getattr(backend, function)(xt, **params)
        (fx,) = torch.autograd.grad(out.sum(), xt, create_graph=True)
        (fxx,) = torch.autograd.grad(fx.sum(), xt)
        return _to_numpy(fxx, x.dtype)
