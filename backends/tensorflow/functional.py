"""The functional API: one function per spec name, evaluating :data:`sgblend_spec.formulas.FORMULAS`.

Parameters are Python numbers or floating tensors/variables that broadcast against ``x``;
the result has the dtype and shape of ``x`` whatever the parameters' dtype.

``precision="fast"`` (the default) evaluates float16/bfloat16/float32 in float32;
``precision="exact"`` in float64, rounded once. float64 is float64 in both.
"""

from __future__ import annotations

import inspect

import tensorflow as tf

from sgblend_spec import checks, spec

from . import autodiff, contract

#: The tier of the framework backends when none is given.
DEFAULT_PRECISION = spec.DEFAULT_PRECISION["backends"]


def evaluate(function: str, x: object, params: dict[str, object], precision: str = DEFAULT_PRECISION) -> tf.Tensor:
    """``function`` at ``x`` in the tier ``precision``: x and params checked
    (:mod:`.contract`), then its autodiff op."""
    checks.check_precision(function, precision)
    x = contract.as_input(function, x)
    checked = contract.check_parameters(function, x, params, precision)
    conditions = [c.condition for c in checked if c.condition is not None]
    if conditions:
        # In a graph the Asserts raise at run time, except under XLA, which drops them: there
        # an out-of-domain parameter makes every output and derivative NaN (INPUT_CONTRACT
        # "compiled") instead of a number.
        x = contract.nan_unless(tf.reduce_all(tf.stack(conditions)), x)
    needs = tuple(c.differentiable for c in checked)
    return autodiff.op(function, needs, precision)(x, *(c.tensor for c in checked))


def _bind(name: str):
    """The public function of spec function ``name``: ``name(x, *params)`` with spec defaults."""
    record = spec.FUNCTIONS[name]
    signature = inspect.Signature(
        [inspect.Parameter("x", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(p.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=p.default)
           for p in record.params]
        + [inspect.Parameter("precision", inspect.Parameter.KEYWORD_ONLY, default=DEFAULT_PRECISION)],
        return_annotation=tf.Tensor,
    )

    def function(*args, **kwargs) -> tf.Tensor:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        params = dict(bound.arguments)
        precision = params.pop("precision")
        return evaluate(name, params.pop("x"), params, precision)

    function.__signature__ = signature
    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"{record.title}: {record.summary}."
    function.__module__ = __name__
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
