"""The nine spec functions for JAX arrays, parameters by keyword with the spec's defaults::

    swish(x, beta)            gelu(x)         gelu_tanh(x)       gelu_sigmoid(x)
    sswish(x, beta, gamma)    sgblend(x, alpha, beta, gamma)     lambda_gelu(x, lam)
    sgblend_gelu(x, alpha, beta, gamma)      sgblend_gelu_tanh(x, alpha, beta, gamma)

Each checks its input (:mod:`.contract`) and then runs the spec function's custom_jvp
(:mod:`.autodiff`), reading ``formulas.FORMULAS[name]``. Parameters are scalars or arrays
that broadcast against ``x``; the result has ``x``'s dtype and the broadcast shape.

``precision="fast"`` (the default) evaluates float16/bfloat16/float32 in float32;
``precision="exact"`` in float64 (needs ``jax_enable_x64`` for float32 input: without it
the call is a ValueError saying so). float64 is float64 in both.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping

import jax

from sgblend_spec import checks, spec

from .autodiff import DIFFERENTIABLE
from .contract import as_input, check_parameters, check_precision_available

#: The tier of the framework backends when none is given.
DEFAULT_PRECISION = spec.DEFAULT_PRECISION["backends"]


def evaluate(function: str, x: Any, params: Mapping[str, Any], precision: str = DEFAULT_PRECISION) -> jax.Array:
    """Spec function ``function`` at ``x`` in the tier ``precision``: the input contract
    checked, then its custom_jvp."""
    checks.check_precision(function, precision)
    x = as_input(function, x)
    check_precision_available(function, x, precision)
    values, ok = check_parameters(function, x, params, precision)
    return DIFFERENTIABLE[function, precision](x, ok, *values)


def _bind(name: str) -> Callable[..., jax.Array]:
    """The public function ``name(x, *, <parameters with spec defaults>)`` for :func:`evaluate`."""
    record = spec.FUNCTIONS[name]

    def function(x, *, precision: str = DEFAULT_PRECISION, **params):
        return evaluate(name, x, params, precision)

    signature = [inspect.Parameter("x", inspect.Parameter.POSITIONAL_OR_KEYWORD)] + [
        inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=p.default) for p in record.params
    ] + [inspect.Parameter("precision", inspect.Parameter.KEYWORD_ONLY, default=DEFAULT_PRECISION)]
    function.__signature__ = inspect.Signature(signature)
    function.__name__ = function.__qualname__ = name
    function.__doc__ = (
        f"{record.title}: {record.summary}.\n\n"
        f"Differentiable in x and in {', '.join(record.param_names) or 'no parameters'} "
        "(custom JVP with the spec's stable derivative formulas). Returns x's dtype."
    )
    return function


swish = _bind("swish")
gelu = _bind("gelu")
gelu_tanh = _bind("gelu_tanh")
gelu_sigmoid = _bind("gelu_sigmoid")
sswish = _bind("sswish")
sgblend = _bind("sgblend")
sgblend_gelu = _bind("sgblend_gelu")
sgblend_gelu_tanh = _bind("sgblend_gelu_tanh")
lambda_gelu = _bind("lambda_gelu")
