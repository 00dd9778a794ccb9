"""PyTorch binding: functional API, one autograd.Function, nn.Modules, the λ-GELU recipe.

Every value and derivative comes from :mod:`sgblend_spec.formulas`, evaluated through the
torch :data:`NAMESPACE` in the precision tier's working dtype (float32 for "fast", the
default; float64 for "exact" and for float64 input) and rounded once to x's dtype; nothing
here restates a formula. One module per job: ``numerics`` (namespace, rounding, blocked sums), ``kernels``
(the compiled value and grad kernels), ``contract`` (the input contract), ``autodiff`` (the
autograd.Function), ``functional`` (``swish(x, beta)`` ... ``lambda_gelu(x, lam)``),
``layers`` (the nn.Modules) and ``recipe`` (λ-GELU training recipe, activation swap).
"""

import os

#: Compile the kernels for large inputs (env SGBLEND_TORCH_COMPILE=0 disables it); read on
#: each call, so ``sgblend_spec.backends.torch.COMPILE = False`` takes effect at once.
COMPILE: bool = os.environ.get("SGBLEND_TORCH_COMPILE", "1") != "0"
#: Smallest input (in elements) for which the compiled kernels are used; smaller inputs run
#: eagerly, where the compile time (seconds, once per function and dtype) would not pay off.
COMPILE_MIN_NUMEL: int = int(os.environ.get("SGBLEND_TORCH_COMPILE_MIN_NUMEL", str(1 << 16)))
#: Load the compiled CPU kernels from an on-disk cache, built once by AOTInductor
#: (:mod:`.prebuilt`: no compile in later processes); env SGBLEND_TORCH_PREBUILT=0 (or False
#: here) compiles them with torch.compile in each process instead.
PREBUILT: bool = os.environ.get("SGBLEND_TORCH_PREBUILT", "1") != "0"
#: Build a missing prebuilt library in a child process and evaluate eagerly until it is ready (no
#: call waits for a compiler): "auto" (env SGBLEND_TORCH_BUILD_IN_BACKGROUND unset or "auto")
#: where this process may use more CPUs than torch's intra-op threads, True ("1") always, False
#: ("0") never: the call builds it, as it does under torch.use_deterministic_algorithms(True).
BUILD_IN_BACKGROUND: bool | str = {"0": False, "1": True}.get(
    os.environ.get("SGBLEND_TORCH_BUILD_IN_BACKGROUND", "auto"), "auto")

from .numerics import NAMESPACE  # noqa: E402  (the settings above are read by .kernels)
from .functional import (  # noqa: E402
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
from .layers import GELU, LambdaGELU, SGBlend, SSwish, Swish, import_parameters, register_constraints  # noqa: E402
from . import huggingface  # noqa: E402
from .recipe import (  # noqa: E402
    HardeningSchedule,
    lambda_parameter_groups,
    register_lambda_update,
    relu_ize,
    replace_lambda_gelu_with_relu,
    swap_activations,
)

huggingface.install()  # the modules' names in transformers' ACT2FN, now or when it is imported

__all__ = [
    "import_parameters",
    "NAMESPACE",
    "COMPILE",
    "COMPILE_MIN_NUMEL",
    "PREBUILT",
    "BUILD_IN_BACKGROUND",
    "swish",
    "gelu",
    "gelu_tanh",
    "gelu_sigmoid",
    "sswish",
    "sgblend",
    "sgblend_gelu",
    "sgblend_gelu_tanh",
    "lambda_gelu",
    "Swish",
    "GELU",
    "SSwish",
    "SGBlend",
    "LambdaGELU",
    "register_constraints",
    "lambda_parameter_groups",
    "register_lambda_update",
    "HardeningSchedule",
    "swap_activations",
    "replace_lambda_gelu_with_relu",
    "relu_ize",
]
