"""Issue #9 for the TensorFlow/Keras backend: bad parameters and inputs, graphs and XLA,
special values, stress training and determinism, each as ``spec.INPUT_CONTRACT`` states it."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import textwrap

import keras
import ml_dtypes
import numpy as np
import pytest
import tensorflow as tf

from sgblend_spec import mp, spec
from sgblend_spec.backends import tensorflow as B

FUNCTIONS = list(spec.FUNCTIONS)
FLOATS = (tf.float16, tf.bfloat16, tf.float32, tf.float64)
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
def _bad_values(parameter: spec.Parameter) -> list[float]:
    out = [NAN, INF, -INF]
    if math.isfinite(parameter.domain.lo):
        out += [parameter.domain.lo - 0.5, -1.0]
    return out


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_out_of_domain_parameter_is_rejected_in_every_form(name):
    """Clause "param.domain": a Python float, a 0-d tensor, a variable, a per-channel tensor
    with one bad element and a NumPy array each raise ValueError naming the parameter and
    its domain."""
    x = tf.reshape(tf.linspace(-3.0, 3.0, 6), (2, 3))
    for p in spec.FUNCTIONS[name].params:
        for bad in _bad_values(p):
            row = [p.default, bad, p.default]
            forms = [bad, tf.constant(bad), tf.Variable([bad]), tf.constant(row), np.array(row, np.float32)]
            for form in forms:
                with pytest.raises(ValueError, match=rf"'{p.name}'.*{re.escape(str(p.domain))}"):
                    getattr(B, name)(x, **{p.name: form})


@pytest.mark.parametrize("bad", [tf.constant(1), tf.constant(True), tf.constant(1 + 1j), np.int64(1),
                                 np.array([1, 2, 3]), np.array([1j]), True, 1j, "1.0", [1.0, 2.0]],
                         ids=lambda v: type(v).__name__ + str(getattr(v, "dtype", "")))
def test_integer_bool_complex_and_non_numeric_parameters_are_type_errors(bad):
    """Clause "param.type"; a Python int is a number and accepted."""
    x = tf.linspace(-3.0, 3.0, 3)
    with pytest.raises(TypeError, match="'beta'"):
        B.sswish(x, beta=bad)
    assert B.sswish(x, beta=1).dtype == tf.float32


CONSTRUCTOR_ERRORS = [
    (B.SSwish, {"beta": 0.0}, ValueError, r"beta.*\[0\.1, 10\]"),
    (B.SSwish, {"beta": NAN}, ValueError, r"beta.*\[0\.1, 10\]"),
    (B.SSwish, {"beta": True}, TypeError, "beta"),
    (B.SSwish, {"beta": "1"}, TypeError, "beta"),
    (B.SSwish, {"gamma": INF}, ValueError, r"gamma.*\(-inf, inf\)"),
    (B.SGBlend, {"alpha": -1.5}, ValueError, r"alpha.*\[-1, 1\]"),
    (B.SGBlend, {"alpha": 1j}, TypeError, "alpha"),
    (B.SGBlend, {"beta": 10.5}, ValueError, r"beta.*\[0\.1, 10\]"),
    (B.LambdaGELU, {"lam": 0.5}, ValueError, r"lam.*\[1, inf\)"),
    (B.LambdaGELU, {"lam": NAN}, ValueError, r"lam.*\[1, inf\)"),
    (B.LambdaGELU, {"lam": np.int32(2)}, TypeError, "lam"),
    (B.Swish, {"beta": -0.5}, ValueError, r"beta.*\[0, inf\)"),
]
for _cls in (B.SSwish, B.SGBlend, B.LambdaGELU, B.GELU, B.Swish):
    for _dtype in ("int32", "complex64", "bool"):
        CONSTRUCTOR_ERRORS.append((_cls, {"dtype": _dtype}, TypeError, f"dtype policy '{_dtype}'"))


@pytest.mark.parametrize("cls, kwargs, error, match", CONSTRUCTOR_ERRORS,
                         ids=[f"{c.__name__}-{k}" for c, k, _, _ in CONSTRUCTOR_ERRORS])
def test_constructor_rejects_invalid_parameters(cls, kwargs, error, match):
    """Clause "layer.init", the Keras dtype policy included (weights and computation floating)."""
    with pytest.raises(error, match=match):
        cls(**kwargs)


def test_mixed_precision_policies_are_accepted():
    layer = B.SGBlend(beta=1.0, dtype="mixed_bfloat16")
    assert layer(tf.ones((2, 3))).dtype == tf.bfloat16 and layer.beta.dtype == "float32"


@pytest.mark.parametrize("function, raw, spec_name",
                         [("sswish", "beta", "beta"), ("sgblend", "gamma", "gamma"), ("lambda_gelu", "rho", "lam")])
def test_call_rejects_a_weight_corrupted_after_construction(function, raw, spec_name):
    """Clause "param.domain" at call time: a NaN assigned to a built layer's weight (a
    diverged step, a manual edit) makes the next eager call raise, naming the parameter."""
    layer = {"sswish": B.SSwish(beta=1.0), "sgblend": B.SGBlend(beta=1.0), "lambda_gelu": B.LambdaGELU()}[function]
    layer(tf.ones((2, 3)))
    getattr(layer, raw).assign([NAN])
    with pytest.raises(ValueError, match=f"'{spec_name}'"):
        layer(tf.ones((2, 3)))


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


def test_checkpoint_of_the_authors_layer_before_its_first_update_loads(tmp_path):
    """The layer constraint is not a load condition: β from glorot_uniform may be ≤ 0 before
    the first update, and that saved model must load and run."""
    model = keras.Sequential([keras.Input((4,)), B.SGBlend()])
    model.layers[0].beta.assign([-1.25])
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert float(loaded.layers[0].beta.numpy()[0]) == -1.25
    x = tf.reshape(tf.linspace(-4.0, 4.0, 8), (2, 4))
    np.testing.assert_array_equal(loaded(x).numpy(), B.sgblend(x, alpha=0.0, beta=-1.25, gamma=0.0).numpy())


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


# ============================================================================ inputs
@pytest.mark.parametrize("np_dtype", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64])
def test_numpy_x_keeps_its_dtype_and_values(np_dtype):
    """Clause "x.type": a NumPy array or scalar is a tensor of the same dtype (a strided view
    too); the result is the one for that tensor, bitwise."""
    arr = np.linspace(-5, 5, 11).astype(np_dtype)
    out = B.sgblend(arr[::2], alpha=0.3, beta=1.5, gamma=0.1)
    want = B.sgblend(tf.constant(np.ascontiguousarray(arr[::2])), alpha=0.3, beta=1.5, gamma=0.1)
    assert out.dtype == want.dtype and out.shape == (6,) and out.dtype.as_numpy_dtype == np_dtype
    np.testing.assert_array_equal(_bits(out), _bits(want))
    assert B.gelu(np_dtype(0.5)).shape == ()


@pytest.mark.parametrize("x", [0.5, 1, [0.5, 1.0], (0.5,), np.array([1, 2]), np.array([1j]), np.array([True]),
                               tf.constant([1, 2]), tf.constant([1 + 0j])],
                         ids=lambda v: f"{type(v).__name__}-{getattr(v, 'dtype', '')}")
def test_non_floating_or_dtype_less_x_is_a_type_error(x):
    """Clauses "x.type", "x.dtype"."""
    with pytest.raises(TypeError, match=r"\bx must be a floating-point array.*float16, bfloat16, float32 or float64"):
        B.sgblend(x)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_zero_d_and_empty_inputs(name):
    """Clause "x.shape": 0-d in, 0-d out; empty in, empty out with zero parameter gradients
    of the parameters' shapes and dtypes."""
    scalars = {k: tf.constant(v, tf.float64) for k, v in spec.FUNCTIONS[name].defaults.items()}
    value, dx, *dp = _value_and_grads(name, tf.constant(0.75), scalars)
    assert value.shape == () and dx.shape == () and all(g.shape == () for g in dp)
    per_channel = {k: tf.fill((3,), v) for k, v in scalars.items()}
    value, dx, *dp = _value_and_grads(name, tf.zeros((0, 3), tf.bfloat16), per_channel)
    assert value.shape == (0, 3) and value.dtype == tf.bfloat16 and dx.shape == (0, 3)
    for g in dp:
        assert g.shape == (3,) and g.dtype == tf.float64 and np.array_equal(g.numpy(), np.zeros(3))


def test_per_channel_parameters_broadcast_and_bad_shapes_are_named():
    """Clause "param.shape": a (C,) parameter over channels last is bitwise its scalar
    evaluation per channel (the functional API and the per_channel layer); a shape that does
    not broadcast to x's shape, or would enlarge the result, is a ValueError naming it."""
    x = tf.reshape(tf.linspace(-5.0, 5.0, 24), (2, 4, 3))
    lam = tf.constant([1.0, 2.5, 7.0])
    out = B.lambda_gelu(x, lam=lam)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c].numpy(), B.lambda_gelu(x[..., c], lam=float(lam[c])).numpy())
    layer = B.SGBlend(beta=1.0, gamma=0.0, per_channel=True)
    layer(x)
    layer.gamma.assign([0.5, -1.0, 2.0])
    got = layer(x)
    for c, gamma in enumerate([0.5, -1.0, 2.0]):
        np.testing.assert_array_equal(got[..., c].numpy(), B.sgblend(x[..., c], alpha=0.0, beta=1.0, gamma=gamma).numpy())
    for bad, shape in ((tf.ones(4), (2, 4, 3)), (tf.ones((2, 1, 1, 1)), (2, 4, 3)), (tf.ones((5, 1)), (5,))):
        with pytest.raises(ValueError, match=rf"'lam' of shape {re.escape(str(tuple(bad.shape)))} does not "
                                             rf"broadcast to x's shape {re.escape(str(shape))}"):
            B.lambda_gelu(tf.ones(shape), lam=bad)


@pytest.mark.parametrize("x_dtype", FLOATS)
@pytest.mark.parametrize("p_dtype", FLOATS)
def test_mixed_dtypes_between_x_and_parameters(x_dtype, p_dtype):
    """Clause "param.dtype": the result has x's dtype and is bitwise the one for the same
    parameter values as Python floats; each parameter's gradient has its own dtype and shape."""
    x = tf.cast(tf.linspace(-6.0, 6.0, 13), x_dtype)
    values = {"alpha": -0.25, "beta": 1.5, "gamma": 0.125}
    params = {k: tf.constant(v, p_dtype) for k, v in values.items()}
    value, dx, *dp = _value_and_grads("sgblend", x, params)
    assert value.dtype == x_dtype and dx.dtype == x_dtype
    np.testing.assert_array_equal(_bits(value), _bits(B.sgblend(x, **values)))
    assert all(g.dtype == p_dtype and g.shape == () for g in dp)


# ============================================================================ special values
@pytest.mark.parametrize("name", FUNCTIONS)
def test_special_values_do_not_leak_into_neighbours(name):
    """Clause "x.special": NaN, ±inf and ±0 among ordinary values leave those values' value
    and x-gradient bitwise as they are with ordinary numbers in their place."""
    mixed = tf.constant([NAN, -3.5, INF, -0.75, -INF, 0.5, -0.0, 2.25, 0.0, 40.0])
    calm = tf.where(tf.range(10) % 2 == 0, 7.0, mixed)
    params = dict(spec.FUNCTIONS[name].defaults)
    alone = _value_and_grads(name, calm, params)
    among = _value_and_grads(name, mixed, params)
    for a, b in zip(alone[:2], among[:2]):
        np.testing.assert_array_equal(_bits(a)[1::2], _bits(b)[1::2])


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


TAIL = [("float64", [-700.0, -705.0, -708.0]), ("float32", [-88.0, -100.0, -103.0]), ("float16", [-9.5, -15.0, -17.0])]


@pytest.mark.parametrize("dtype, xs", TAIL, ids=[d for d, _ in TAIL])
def test_swish_gradient_in_the_far_negative_tail_is_the_oracle_value_not_zero(dtype, xs):
    """The reported failure mode (a SiLU gradient of 0 near x = -709): the gradient in the
    tail is the oracle's value within the bound, float32 subnormals included. (float64
    below -708 runs into TensorFlow's flush-to-zero: the conformance suite's FTZ tier.)"""
    _, dx = _value_and_grads("swish", tf.constant(xs, getattr(tf, dtype)), {"beta": 1.0})
    for v, got in zip(xs, dx.numpy().astype(np.float64).tolist()):
        want = float(mp.round_to(mp.evaluate("swish", v, {"beta": 1.0})["x"][0], dtype))
        spacing = float(np.spacing(np.abs(np.array(want)).astype(dtype)))
        if dtype == "float64":
            spacing = max(spacing, float(np.spacing(abs(want) * (1 + abs(v)))))
        assert want != 0.0 and got != 0.0, (v, got)
        assert abs(got - want) <= spec.ulp_bound("x", dtype) * spacing, (v, got, want)


# ============================================================================ stress training
LEARNABLE = {
    "SSwish": lambda: B.SSwish(),
    "SGBlend": lambda: B.SGBlend(),
    "SGBlend-exact": lambda: B.SGBlend(gelu="exact"),
    "SGBlend-tanh-per-channel": lambda: B.SGBlend(gelu="tanh", beta=1.0, per_channel=True),
    "SGBlend-direct-alpha": lambda: B.SGBlend(alpha_parameterization="direct"),
    "LambdaGELU": lambda: B.LambdaGELU(),
    "LambdaGELU-per-channel": lambda: B.LambdaGELU(per_channel=True),
}


def _in_constraints(layer) -> list[str]:
    """Every weight finite and where the layer keeps it (α ∈ [-1, 1] or a ∈ [0, 1],
    β ∈ [0.1, 10]; λ = 1 + ρ² ≥ 1 holds for every finite ρ)."""
    problems = []
    for variable in layer.weights:
        value = variable.numpy()
        if not np.all(np.isfinite(value)):
            problems.append(f"{variable.name} not finite: {value}")
    names = {v.name: v.numpy() for v in layer.weights}
    if "beta" in names and not np.all((names["beta"] >= 0.1) & (names["beta"] <= 10)):
        problems.append(f"beta outside [0.1, 10]: {names['beta']}")
    if "alpha" in names and not np.all(np.abs(names["alpha"]) <= 1):
        problems.append(f"alpha outside [-1, 1]: {names['alpha']}")
    if "a" in names and not np.all((names["a"] >= 0) & (names["a"] <= 1)):
        problems.append(f"a outside [0, 1]: {names['a']}")
    return problems


@pytest.mark.parametrize("optimizer", ["adam-lr1", "sgd-lr10"])
@pytest.mark.parametrize("layer", list(LEARNABLE))
def test_stress_training_keeps_parameters_in_domain_and_outputs_finite(layer, optimizer):
    """Clause "training": 1000 steps of Adam at lr = 1 or SGD at lr = 10 (global gradient norm
    clipped to 1, as in the torch test: without it the Dense layers overflow with any
    activation) on random data, Dense-activation-Dense, cross-entropy on random labels, every
    weight trained, in a tf.function graph (so the in-graph parameter Asserts are live).
    After every step each weight is finite and in its constraint (Keras applies the
    constraints after each update) and the outputs are finite."""
    keras.utils.set_random_seed(9)
    activation = LEARNABLE[layer]()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), activation, keras.layers.Dense(4)])
    rng = np.random.default_rng(9)
    x = tf.constant(rng.standard_normal((64, 8)) * 3, tf.float32)
    labels = tf.constant(rng.integers(0, 4, 64))
    opt = (keras.optimizers.Adam(learning_rate=1.0) if optimizer == "adam-lr1"
           else keras.optimizers.SGD(learning_rate=10.0, global_clipnorm=1.0))
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            out = model(x, training=True)
            loss = loss_fn(labels, out)
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return tf.reduce_all(tf.math.is_finite(out))

    for i in range(1000):
        assert bool(step()), f"step {i}: non-finite output"
        problems = _in_constraints(activation)
        assert not problems, f"step {i}: {problems}"
    assert np.all(np.isfinite(model(x).numpy()))


# ============================================================================ determinism
_DETERMINISM_SCRIPT = textwrap.dedent("""
    import hashlib, json, os, sys
    n = int(sys.argv[1])
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:n]))
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import numpy as np
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(n)
    tf.config.threading.set_inter_op_parallelism_threads(n)
    from sgblend_spec import spec
    from sgblend_spec.backends import tensorflow as B

    x64 = np.random.default_rng(3).standard_normal(1 << 17) * 5
    def run():
        out = {}
        for dtype in (tf.float32, tf.float64, tf.bfloat16):
            x = tf.constant(x64, dtype=dtype)
            for name in ("sgblend", "sgblend_gelu", "lambda_gelu", "sswish"):
                params = {k: tf.constant(v + 0.3, dtype) for k, v in spec.FUNCTIONS[name].defaults.items()}
                with tf.GradientTape() as tape:
                    tape.watch([x, *params.values()])
                    y = getattr(B, name)(x, **params)
                grads = tape.gradient(y, [x, *params.values()])
                for label, t in zip(["value", "x", *params], [y, *grads]):
                    out[f"{dtype.name}:{name}:{label}"] = hashlib.sha256(t.numpy().tobytes()).hexdigest()
        return out
    first = run()
    print(json.dumps({"first": first, "again": run()}))
""")


def test_bitwise_deterministic_across_repeats_and_thread_counts():
    """Clause "determinism": in a fresh interpreter pinned to 1 CPU with 1 TensorFlow thread,
    and in one with 2 of each, the value and every gradient (parameter-gradient reductions
    over 2^17 elements included) hash the same, and a repeated call in each does too."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs to compare one thread with two")
    runs = {}
    for n in (1, 2):
        done = subprocess.run([sys.executable, "-c", _DETERMINISM_SCRIPT, str(n)], capture_output=True, text=True,
                              check=True)
        runs[n] = json.loads(done.stdout.strip().splitlines()[-1])
        assert runs[n]["first"] == runs[n]["again"], f"{n} thread(s): a repeated call differs"
    differ = [k for k in runs[1]["first"] if runs[1]["first"][k] != runs[2]["first"][k]]
    assert not differ, f"1 vs 2 threads differ: {differ}"
