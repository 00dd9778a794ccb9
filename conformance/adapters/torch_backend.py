"""Adapter for the PyTorch backend, ``sgblend_spec.backends.torch``: its public functions
through ``adapt.torch`` (values from the functional API, per-element partials and ∂²f/∂x²
from autograd), in the precision tier of the run (``--precision``, read from the report when the
adapter is built)."""

from __future__ import annotations

import functools
import os

import torch

import sgblend_spec
from sgblend_spec import spec
from sgblend_spec.backends import torch as backend

from .. import adapt
from ..checks import REPORT


#: Where the suite's tensors live: SGBLEND_TORCH_DEVICE=cuda runs the suite on a GPU
#: (benchmarks/gpu_check.sh); the default is the CPU.
DEVICE = os.environ.get("SGBLEND_TORCH_DEVICE", "cpu")


def TorchBackend() -> adapt.Adapter:
    return adapt.torch(
        {name: functools.partial(getattr(backend, name), precision=REPORT.precision) for name in spec.FUNCTIONS},
        device=DEVICE,
        name="torch" if DEVICE == "cpu" else f"torch-{DEVICE}",
        version=f"sgblend_spec {sgblend_spec.__version__}, torch {torch.__version__} on {DEVICE}, "
                f"precision={REPORT.precision!r}",
        array_parameters=True,  # value() takes NumPy parameter arrays (INPUT_CONTRACT "param.shape")
    )
