"""JAX binding: the spec's functions with stable custom derivatives, a pytree API and Flax NNX layers.

One module per job: :mod:`.numerics` (working dtype, exact widening, single rounding, the
float64 erfc, deterministic parameter-gradient sums, the chunked CPU loop), :mod:`.contract`
(the input contract), :mod:`.autodiff` (the custom_jvp rule), :mod:`.functional` (the nine
functions), :mod:`.layers` (the pytree API and ``project``), :mod:`.nnx` (the Flax NNX
layers, imported on first access so that importing this package never imports flax) and
:mod:`.recipe` (the λ-GELU training recipe).

Functions (one per spec function, parameters by keyword, spec defaults)::

    swish(x, beta)            gelu(x)         gelu_tanh(x)       gelu_sigmoid(x)
    sswish(x, beta, gamma)    sgblend(x, alpha, beta, gamma)     lambda_gelu(x, lam)
    sgblend_gelu(x, alpha, beta, gamma)      sgblend_gelu_tanh(x, alpha, beta, gamma)

Pytree API (for optax / Equinox users)::

    params = init_params("sgblend", key)          # {"alpha", "beta", "gamma"}, the authors' init
    y = apply("sgblend", params, x)
    params = constraints("sgblend")(optax.apply_updates(params, updates))
"""

from __future__ import annotations

from .functional import (
    gelu,
    gelu_sigmoid,
    gelu_tanh,
    lambda_gelu,
    sgblend,
    sgblend_gelu,
    sgblend_gelu_tanh,
    sswish,
    swish,
)
from .layers import apply, constraints, import_parameters, init_params, project
from .numerics import NAMESPACE, working_dtype
from .recipe import harden, lambda_update, scale_lambda_gradients

__all__ = [
    "import_parameters",
    "swish",
    "gelu",
    "gelu_tanh",
    "gelu_sigmoid",
    "sswish",
    "sgblend",
    "sgblend_gelu",
    "sgblend_gelu_tanh",
    "lambda_gelu",
    "NAMESPACE",
    "working_dtype",
    "init_params",
    "apply",
    "constraints",
    "project",
    "SSwish",
    "SGBlend",
    "LambdaGELU",
    # λ-GELU training recipe
    "harden",
    "scale_lambda_gradients",
    "lambda_update",
    # NNX activation swap (in .nnx)
    "swap_activations",
]

#: The Flax NNX layers and the NNX activation swap, defined in :mod:`.nnx` (which imports flax),
#: imported on first access.
_NNX_LAYERS = ("SSwish", "SGBlend", "LambdaGELU", "swap_activations")


def __getattr__(attribute: str):
    # The NNX layers import flax, so they are imported on first access only.
    if attribute in _NNX_LAYERS:
        from . import nnx

        return getattr(nnx, attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")


def __dir__():
    return sorted(set(globals()) | set(_NNX_LAYERS))
