"""Issue #9 for the TensorFlow/Keras backend, what is specific to it: mixed-precision policies,
set_weights and saved files, tf.function asserts and XLA's NaN, second derivatives with
variables and float64 extremes in graphs. What every backend shares is tests/contract
(SGBLEND_TEST_BACKEND=tensorflow)."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from sgblend_spec import spec
from sgblend_spec.backends import tensorflow as B

FUNCTIONS = list(spec.FUNCTIONS)
NAN, INF = math.nan, math.inf


def _bits(t) -> np.ndarray:
    """Bit patterns (every NaN one pattern), for bitwise comparisons."""
    a = np.asarray(t.numpy() if hasattr(t, "numpy") else t)
    bits = a.view(f"u{a.dtype.itemsize}").copy()
    bits[np.isnan(a.astype(np.float64))] = 0
    return bits


def _value_and_grads(name: str, x, params: dict) -> list:
    """f and the gradients of sum(f) in x and every tensor parameter."""
    x = tf.convert_to_tensor(x)
    tensors = [v for v in params.values() if isinstance(v, tf.Tensor)]
    with tf.GradientTape() as tape:
        tape.watch([x, *tensors])
        y = getattr(B, name)(x, **params)
    return [y, *tape.gradient(y, [x, *tensors])]


# ============================================================================ parameters
# (bad values in every form, types, constructor errors, a corrupted weight and the authors'
# checkpoint: tests/contract/test_parameters.py)
def test_mixed_precision_policies_are_accepted():
    layer = B.SGBlend(beta=1.0, dtype="mixed_bfloat16")
    assert layer(tf.ones((2, 3))).dtype == tf.bfloat16 and layer.beta.dtype == "float32"


LOAD_ERRORS = [
    (1, np.array([NAN], np.float32), ValueError, "'beta' must be finite"),
    (2, np.array([-INF], np.float32), ValueError, "'gamma' must be finite"),
    (0, np.array([1]), TypeError, "'alpha' must be real floating point"),
    (0, np.array([1 + 0j]), TypeError, "'alpha' must be real floating point"),
    (1, np.array([1.0, 2.0], np.float32), ValueError, r"'beta' has shape \(2,\)"),
]


@pytest.mark.parametrize("index, value, error, match", LOAD_ERRORS,
                         ids=[f"{i}-{v.dtype}-{v.shape}" for i, v, _, _ in LOAD_ERRORS])
def test_set_weights_with_a_bad_weight_is_rejected_and_the_layer_kept(index, value, error, match):
    """Clause "layer.load" for Layer.set_weights."""
    layer = B.SGBlend(beta=1.0, gamma=0.25)
    layer(tf.ones((1, 2)))
    before = layer.get_weights()
    weights = list(before)
    weights[index] = value
    with pytest.raises(error, match=match):
        layer.set_weights(weights)
    for got, want in zip(layer.get_weights(), before):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("via", ["load_model", "load_weights"])
def test_saved_files_with_a_non_finite_weight_do_not_load(via, tmp_path):
    """Clause "layer.load" for keras.models.load_model and Model.load_weights: a file whose
    ρ is inf (λ = 1 + ρ² undefined) is refused, naming the weight."""
    model = keras.Sequential([keras.Input((3,)), B.LambdaGELU(per_channel=True)])
    model.layers[0].rho.assign([0.5, INF, 1.0])  # assign bypasses the checks, as a corrupt file would
    path = tmp_path / ("m.keras" if via == "load_model" else "m.weights.h5")
    model.save(path) if via == "load_model" else model.save_weights(path)
    with pytest.raises(ValueError, match="'rho' must be finite"):
        if via == "load_model":
            keras.models.load_model(path)
        else:
            fresh = keras.Sequential([keras.Input((3,)), B.LambdaGELU(per_channel=True)])
            fresh.load_weights(path)


# ============================================================================ graphs and XLA
def test_graph_asserts_and_xla_gives_nan_everywhere_for_an_out_of_domain_tensor_parameter():
    """Clause "compiled": in a tf.function graph a bad tensor parameter raises
    InvalidArgumentError naming it; under jit_compile=True (XLA drops Asserts) the value and
    every gradient (x's and the parameter's) are NaN in every element, never a number."""
    x = tf.linspace(-4.0, 4.0, 9)

    def value_and_grads(x, lam):
        with tf.GradientTape() as tape:
            tape.watch([x, lam])
            y = B.lambda_gelu(x, lam=lam)
        return (y, *tape.gradient(y, [x, lam]))

    graph = tf.function(value_and_grads)
    xla = tf.function(value_and_grads, jit_compile=True)
    good = tf.constant(1.75)
    for got, want in zip(xla(x, good), value_and_grads(x, good)):
        assert np.all(np.isfinite(got.numpy())) and got.dtype == want.dtype
    for bad in (0.5, NAN, INF):
        # The message is TensorFlow's repr of the Assert's string: the quotes come escaped.
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"lam\W* must be a finite value in \[1, inf\)"):
            graph(x, tf.constant(bad))
        for out in xla(x, tf.constant(bad)):
            assert np.all(np.isnan(out.numpy())), out


def test_keras_layer_under_xla_gives_nan_not_a_number_for_a_corrupted_weight():
    layer = B.LambdaGELU(per_channel=True)
    layer(tf.ones((2, 3)))
    layer.rho.assign([0.0, NAN, 0.5])
    out = tf.function(layer, jit_compile=True)(tf.ones((2, 3))).numpy()
    assert np.all(np.isnan(out))


# ============================================================================ special values
# (x's type and dtype, 0-d, empty and strided x, per-channel and mixed-dtype parameters, special
# values among ordinary ones, the SiLU tail: tests/contract/test_inputs.py)
@pytest.mark.parametrize("name", ["sswish", "sgblend", "sgblend_gelu", "sgblend_gelu_tanh", "lambda_gelu"])
def test_second_derivative_with_variable_parameters_follows_the_special_value_table(name):
    """Clause "x.special" for ∂²f/∂x² by nested tapes with a layer's variables as parameters:
    TensorFlow hands zeros as the upstream of the unused parameter outputs, and at x = ±inf
    the parameter partials are infinite; the result is the table's (as with Python-number
    parameters), not ∞·0 = NaN. Found when the conformance suite was run in tf.function graphs."""
    x = tf.constant([INF, -INF, 1.0, -0.5], tf.float32)
    values = dict(spec.FUNCTIONS[name].defaults)

    def second_derivative(params):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                fx = inner.gradient(getattr(B, name)(x, **params), x)
        return outer.gradient(fx, x).numpy()

    expected = second_derivative(values)
    assert np.all(np.isfinite(expected))
    with_variables = second_derivative({k: tf.Variable(v, dtype=tf.float32) for k, v in values.items()})
    np.testing.assert_array_equal(with_variables, expected)


def _extreme_parameters(name: str) -> list[dict]:
    """The defaults, and blend weights far from 1/2 with other non-default values."""
    defaults = dict(spec.FUNCTIONS[name].defaults)
    other = {"alpha": -5.0, "beta": 1.5, "gamma": 0.25, "lam": 3.0}
    return [defaults, {k: other[k] for k in defaults}] if defaults else [defaults]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_float64_extremes_in_a_graph_match_eager_mode(name):
    """Clause "x.special" inside tf.function (unknown shape, tensor parameters): value and
    every gradient are bitwise the eager ones up to the largest float64. Grappler's arithmetic
    optimiser moves constant factors outward, so with Φ = erfc(-x/√2)/2 the product
    (1-a)·x·Φ(x) became ½·((1-a)·x·erfc) and overflowed to inf for x > DBL_MAX/2 (found by
    running the conformance suite in graph mode); Φ is now formed without a factor above 1."""
    big = np.finfo(np.float64).max
    x = tf.constant([big, -big, 0.75 * big, 1e300, -1e300, 2.7e154, -3.0, 0.5], tf.float64)
    names = spec.FUNCTIONS[name].param_names

    def value_and_grads(xt, *values):
        return _value_and_grads(name, xt, dict(zip(names, values)))

    signature = [tf.TensorSpec([None], tf.float64)] + [tf.TensorSpec([], tf.float64)] * len(names)
    graph = tf.function(value_and_grads, input_signature=signature)
    for params in _extreme_parameters(name):
        values = [tf.constant(params[n], tf.float64) for n in names]
        eager = value_and_grads(x, *values)
        for e, g in zip(eager, graph(x, *values)):
            np.testing.assert_array_equal(_bits(g), _bits(e), err_msg=f"{name} {params}")



# (stress training and determinism across thread counts: tests/contract/test_training.py,
# tests/contract/test_determinism.py)
