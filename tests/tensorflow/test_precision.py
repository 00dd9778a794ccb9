"""The precision tiers of the TensorFlow functional level (issue #16 item 5): both tiers
against the NumPy reference in the same tier, "fast" free of float64 in the graph (values
and gradients), the default "fast", bad tiers a ValueError naming the choices."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import tensorflow as tf

from sgblend_spec import reference, spec
from sgblend_spec.backends.tensorflow import functional as F

POINT = {"alpha": 0.375, "beta": 1.25, "gamma": 0.125, "lam": 1.75}  # exact in every dtype
GRID = np.concatenate([-np.logspace(-4, 1.5, 40), [0.0], np.logspace(-4, 1.5, 40)]).astype(np.float32)


@pytest.mark.parametrize("precision", spec.PRECISIONS)
@pytest.mark.parametrize("name", list(spec.FUNCTIONS))
def test_each_function_matches_the_reference_in_its_tier(name, precision):
    names = spec.FUNCTIONS[name].param_names
    x = tf.constant(GRID)
    params = {n: tf.Variable(tf.fill(x.shape, POINT[n])) for n in names}
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = getattr(F, name)(x, **params, precision=precision)
    grads = dict(zip(("x", *names), tape.gradient(y, [x, *params.values()])))
    plain = {n: POINT[n] for n in names}
    want = {"value": getattr(reference, name)(GRID, **plain, precision=precision),
            **getattr(reference, f"{name}_grad")(GRID, **plain, precision=precision)}
    for q, got in {"value": y, **grads}.items():
        got, ref = got.numpy().astype(np.float64), want[q].astype(np.float64)
        if precision == "exact":  # the same float64 evaluation, rounded once
            np.testing.assert_allclose(got, ref, rtol=2.4e-7, atol=0, err_msg=q)
        else:  # float32 arithmetic on both sides, different exp/erfc kernels
            np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6 * np.abs(ref).max(), err_msg=q)


@pytest.mark.parametrize("name", ["sgblend", "lambda_gelu", "sgblend_gelu_tanh"])
def test_fast_tier_graph_has_no_float64(name):
    names = spec.FUNCTIONS[name].param_names
    variables = [tf.Variable(POINT[n]) for n in names]

    def graph_of(precision):
        @tf.function(autograph=False)
        def step(x):
            with tf.GradientTape() as outer:
                outer.watch(x)
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    y = tf.reduce_sum(getattr(F, name)(x, *variables, precision=precision))
                grads = tape.gradient(y, [x, *variables])
            return y, grads, outer.gradient(grads[0], x)

        return step.get_concrete_function(tf.TensorSpec([None], tf.float32)).graph

    def float64_ops(graph):
        ops = list(graph.get_operations())
        for function in graph._functions.values():  # custom-gradient bodies
            ops += list(function.graph.get_operations()) if hasattr(function, "graph") else []
        return [op.type for op in ops if any(t.dtype == tf.float64 for t in op.outputs)]

    assert not float64_ops(graph_of("fast"))
    assert float64_ops(graph_of("exact"))


def test_float64_is_float64_in_both_tiers():
    x = tf.constant(np.linspace(-30, 30, 201))
    assert np.array_equal(F.sgblend(x, precision="fast").numpy(), F.sgblend(x, precision="exact").numpy())


def test_default_is_fast_and_shown_in_every_signature():
    for name in spec.FUNCTIONS:
        parameter = inspect.signature(getattr(F, name)).parameters["precision"]
        assert parameter.default == "fast" and parameter.kind is inspect.Parameter.KEYWORD_ONLY
    assert inspect.signature(F.evaluate).parameters["precision"].default == "fast"


@pytest.mark.parametrize("bad", ["float32", None, "Fast"])
def test_bad_precision_names_the_argument_and_the_choices(bad):
    with pytest.raises(ValueError, match=r"precision must be one of \['exact', 'fast'\]"):
        F.sgblend(tf.ones(2), precision=bad)
    with pytest.raises(ValueError, match=r"precision must be one of"):
        F.evaluate("gelu", tf.ones(2), {}, bad)
