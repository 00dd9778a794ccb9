"""The functional API: one function per spec name, ``NAME(x, *params)``.

Parameters are Python numbers or floating tensors that broadcast against ``x`` (positional
or by name, with the spec's defaults). The result has the dtype of ``x`` whatever the
parameters' dtype; a parameter gradient has the parameter's dtype and shape (summed over the
dimensions it was broadcast along).

Autocast. The functions are not on any autocast list: under ``torch.autocast`` they run in
the dtype of their input (a float32 ``x`` gives a float32 result, a bfloat16 ``x`` a
bfloat16 result), evaluated internally in the precision tier's working dtype.

Precision. ``precision="fast"`` (the default, ``spec.DEFAULT_PRECISION["backends"]``)
evaluates float16/bfloat16/float32 in float32 arithmetic (float16/bfloat16 rounded once);
``precision="exact"`` evaluates them in float64 and rounds once. float64 is float64 in both.
"""

from __future__ import annotations

import inspect

import torch

from sgblend_spec import spec

from . import autodiff
from sgblend_spec import checks

from .contract import as_input, check_device, check_parameters

#: The tier of the framework backends when none is given.
DEFAULT_PRECISION = spec.DEFAULT_PRECISION["backends"]


def evaluate(function: str, x: object, params: dict[str, object], precision: str = DEFAULT_PRECISION, *,
             check_domain: bool = True) -> torch.Tensor:
    """The spec function ``function`` at a checked x and parameters (differentiable), in the
    tier ``precision``. ``check_domain=False`` skips the per-call value check of tensor
    parameters (a module's own, checked where they change: no host read per call)."""
    checks.check_precision(function, precision)
    x = as_input(function, x)
    check_device(function, x, precision)
    return autodiff.apply(function, x, *check_parameters(function, x, params, check_domain), precision=precision)


def arguments(function: str, args: tuple, kwargs: dict) -> dict[str, object]:
    """The parameters of a call ``function(x, *args, **kwargs)``, spec defaults filled in."""
    names = spec.FUNCTIONS[function].param_names
    if len(args) > len(names):
        raise TypeError(f"{function}() takes at most {len(names) + 1} positional arguments ({len(args) + 1} given)")
    params = dict(spec.FUNCTIONS[function].defaults)
    params.update(zip(names, args))
    for key, value in kwargs.items():
        if key not in params:
            raise TypeError(f"{function}() got an unexpected keyword argument {key!r}")
        if key in names[: len(args)]:
            raise TypeError(f"{function}() got multiple values for argument {key!r}")
        params[key] = value
    return params


def _bind(function: str):
    """The public torch function for the spec function ``function``."""
    record = spec.FUNCTIONS[function]

    def bound(x: torch.Tensor, *args, precision: str = DEFAULT_PRECISION, **kwargs) -> torch.Tensor:
        return evaluate(function, x, arguments(function, args, kwargs), precision)

    bound.__signature__ = inspect.Signature(
        [inspect.Parameter("x", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(p.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=p.default) for p in record.params]
        + [inspect.Parameter("precision", inspect.Parameter.KEYWORD_ONLY, default=DEFAULT_PRECISION)],
        return_annotation=torch.Tensor,
    )
    bound.__name__ = bound.__qualname__ = function
    bound.__module__ = "sgblend_spec.backends.torch"
    bound.__doc__ = f"{record.title}: {record.summary}.  {function}{bound.__signature__}"
    return bound


swish = _bind("swish")
gelu = _bind("gelu")
gelu_tanh = _bind("gelu_tanh")
gelu_sigmoid = _bind("gelu_sigmoid")
sswish = _bind("sswish")
sgblend = _bind("sgblend")
sgblend_gelu = _bind("sgblend_gelu")
sgblend_gelu_tanh = _bind("sgblend_gelu_tanh")
lambda_gelu = _bind("lambda_gelu")
