"""Inputs as ``spec.INPUT_CONTRACT`` states it, in every backend: x's type and dtype, 0-d,
empty and strided x, per-channel and mixed-dtype parameters, special values, and the
SiLU gradient's far negative tail."""

from __future__ import annotations

import math
import re

import ml_dtypes
import numpy as np
import pytest

from adapters import NUMPY_DTYPES, bits
from sgblend_spec import mp, spec

FUNCTIONS = list(spec.FUNCTIONS)
DTYPES = list(NUMPY_DTYPES)
NAN, INF = math.nan, math.inf


@pytest.mark.parametrize("np_dtype", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64],
                         ids=["float16", "bfloat16", "float32", "float64"])
def test_numpy_x_keeps_its_dtype_and_values(backend, float64, np_dtype):
    """Clause "x.type": a NumPy array or scalar is an array of the framework with the same
    dtype (a strided view too); the result is the one for that array, bitwise."""
    arr = np.linspace(-5, 5, 11).astype(np_dtype)
    out = backend.call("sgblend", arr[::2], alpha=0.3, beta=1.5, gamma=0.1)
    want = backend.call("sgblend", backend.from_numpy(np.ascontiguousarray(arr[::2])), alpha=0.3, beta=1.5, gamma=0.1)
    assert backend.is_native(out)
    out, want = backend.to_numpy(out), backend.to_numpy(want)
    assert out.dtype == want.dtype == np.dtype(np_dtype) and out.shape == (6,)
    np.testing.assert_array_equal(bits(out), bits(want))
    scalar = backend.to_numpy(backend.call("gelu", np_dtype(0.5)))
    assert scalar.shape == () and scalar.dtype == np.dtype(np_dtype)


NOT_FLOATING = {"float": lambda b: 0.5, "int": lambda b: 1, "list": lambda b: [0.5, 1.0], "tuple": lambda b: (0.5,),
                "ndarray-int": lambda b: np.array([1, 2]), "ndarray-complex": lambda b: np.array([1j]),
                "ndarray-bool": lambda b: np.array([True]), "native-int": lambda b: b.native([1, 2]),
                "native-complex": lambda b: b.native([1 + 0j])}


@pytest.mark.parametrize("x", list(NOT_FLOATING))
def test_non_floating_or_dtype_less_x_is_a_type_error(backend, x):
    """Clauses "x.type", "x.dtype": the error names x and the four dtypes."""
    with pytest.raises(TypeError, match=r"\bx must be a floating-point array.*float16, bfloat16, float32 or float64"):
        backend.call("sgblend", NOT_FLOATING[x](backend))


@pytest.mark.parametrize("name", FUNCTIONS)
def test_zero_d_and_empty_inputs(backend, float64, name):
    """Clause "x.shape": 0-d in, 0-d out; empty in, empty out with zero parameter gradients of
    the parameters' shapes and dtypes."""
    defaults = spec.FUNCTIONS[name].defaults
    scalars = {k: backend.array(v, "float64") for k, v in defaults.items()}
    value, dx, *dp = backend.value_and_grads(name, backend.array(0.75, "float32"), scalars)
    assert value.shape == () and dx.shape == () and all(g.shape == () for g in dp)
    per_channel = {k: backend.array([v] * 3, "float64") for k, v in defaults.items()}
    value, dx, *dp = backend.value_and_grads(name, backend.array(np.zeros((0, 3)), "bfloat16"), per_channel)
    assert value.shape == (0, 3) and value.dtype == ml_dtypes.bfloat16 and dx.shape == (0, 3)
    for g in dp:
        assert g.shape == (3,) and g.dtype == np.float64 and np.array_equal(g, np.zeros(3))


VIEWS = {"transpose": lambda b, x: b.transpose(x), "step": lambda b, x: x[::2, 1::3],
         "expand": lambda b, x: b.broadcast_to(x[:1], (5, 8)), "narrow": lambda b, x: x[:, 2:5]}


@pytest.mark.parametrize("view", list(VIEWS))
def test_strided_views_are_bitwise_their_contiguous_copies(backend, view):
    """Clause "x.layout", for the value and every gradient (torch: a non-contiguous view;
    TensorFlow and JAX arrays have no strides, so the view is a new array there)."""
    base = backend.array(np.linspace(-9, 9, 48, dtype=np.float32).reshape(6, 8), "float32")
    x = VIEWS[view](backend, base)
    if backend.has_strides:
        assert not backend.is_contiguous(x)
    params = {k: backend.array(v, "float32") for k, v in {"alpha": 0.4, "beta": 1.3, "gamma": -0.2}.items()}
    for a, b in zip(backend.value_and_grads("sgblend", x, params),
                    backend.value_and_grads("sgblend", backend.contiguous(x), params)):
        np.testing.assert_array_equal(bits(a), bits(b))


def test_per_channel_parameters_broadcast_and_bad_shapes_are_named(backend, mode):
    """Clause "param.shape": a (C,) parameter over channels last is bitwise its scalar
    evaluation per channel; so is each channel of a per-channel layer (torch: along dim 1,
    NCHW); a shape that does not broadcast to x's shape, or would enlarge the result, is a
    ValueError naming the parameter."""
    x = np.linspace(-5, 5, 24, dtype=np.float32).reshape(2, 4, 3)
    lam = [1.0, 2.5, 7.0]
    out = backend.to_numpy(backend.call("lambda_gelu", backend.array(x, "float32"), lam=backend.array(lam, "float32")))
    for c in range(3):
        want = backend.call("lambda_gelu", backend.array(x[..., c], "float32"), lam=lam[c])
        np.testing.assert_array_equal(out[..., c], backend.to_numpy(want))
    layer = backend.layer("SGBlend", channels=3, beta=1.0)
    gammas = [0.5, -1.0, 2.0]
    backend.assign(layer, "gamma", gammas)
    axis = backend.channel_axis
    x = np.moveaxis(x, -1, axis)
    got = backend.call_layer(layer, backend.array(x, "float32"))
    for c, gamma in enumerate(gammas):
        channel = np.ascontiguousarray(np.take(x, c, axis))
        want = backend.call("sgblend", backend.array(channel, "float32"), alpha=0.0, beta=1.0, gamma=gamma)
        np.testing.assert_array_equal(np.take(got, c, axis), backend.to_numpy(want))
    for bad, shape in (((4,), (2, 4, 3)), ((2, 1, 1, 1), (2, 4, 3)), ((5, 1), (5,))):
        with pytest.raises(ValueError, match=rf"'lam' of shape {re.escape(str(bad))} does not "
                                             rf"broadcast to x's shape {re.escape(str(shape))}"):
            backend.call("lambda_gelu", backend.array(np.ones(shape), "float32"),
                         lam=backend.array(np.ones(bad), "float32"))


@pytest.mark.parametrize("x_dtype", DTYPES)
@pytest.mark.parametrize("p_dtype", DTYPES)
def test_mixed_dtypes_between_x_and_parameters(backend, float64, x_dtype, p_dtype):
    """Clause "param.dtype": the result has x's dtype and is bitwise the one for the same
    parameter values as Python floats; each parameter's gradient has its own dtype and shape."""
    x = backend.array(np.linspace(-6, 6, 13), x_dtype)
    values = {"alpha": -0.25, "beta": 1.5, "gamma": 0.125}  # exact in every dtype
    params = {k: backend.array(v, p_dtype) for k, v in values.items()}
    value, dx, *dp = backend.value_and_grads("sgblend", x, params)
    assert value.dtype == NUMPY_DTYPES[x_dtype] and dx.dtype == NUMPY_DTYPES[x_dtype]
    np.testing.assert_array_equal(bits(value), bits(backend.to_numpy(backend.call("sgblend", x, **values))))
    assert all(g.dtype == NUMPY_DTYPES[p_dtype] and g.shape == () for g in dp)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_special_values_do_not_leak_into_neighbours(backend, mode, name):
    """Clause "x.special": NaN, ±inf and ±0 among ordinary values leave those values' value
    and x-gradient bitwise as they are when the special elements are ordinary numbers too.
    (Same positions and length: with JAX's x64 off XLA's float32 kernels give some elements
    a different last bit at another position; see the report of issue #9.)"""
    mixed = np.array([NAN, -3.5, INF, -0.75, -INF, 0.5, -0.0, 2.25, 0.0, 40.0], np.float32)
    calm = np.where(np.arange(10) % 2 == 0, np.float32(7.0), mixed)
    params = dict(spec.FUNCTIONS[name].defaults)
    alone = backend.value_and_grads(name, backend.array(calm, "float32"), params)
    among = backend.value_and_grads(name, backend.array(mixed, "float32"), params)
    for a, b in zip(alone[:2], among[:2]):
        np.testing.assert_array_equal(bits(a)[1::2], bits(b)[1::2])


def _tail_tolerance(dtype: str, want: float, precision: str = "exact") -> float:
    """The published bound at the oracle value ``want``: N ULPs (subnormal spacing included)."""
    return spec.ulp_bound("x", dtype, precision) * float(np.spacing(np.abs(np.array(want)).astype(dtype)))


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_swish_gradient_in_the_far_negative_tail_is_the_oracle_value_not_zero(backend, float64, dtype):
    """The reported failure mode (a SiLU gradient of 0 at x = -709): the gradient in the tail
    is the oracle's value within the published bound, float32 subnormals included (torch:
    float64 subnormals too; TensorFlow and XLA flush float64 below -708, the conformance
    suite's FTZ tier; JAX under jit, see tests/jax for eager)."""
    xs = backend.tail_points[dtype]
    for precision in spec.PRECISIONS:
        got = backend.tail_gradient(dtype, xs, precision)
        for v, g in zip(xs, got.astype(np.float64).tolist()):
            want = float(mp.round_to(mp.evaluate("swish", v, {"beta": 1.0})["x"][0], dtype))
            if precision == "fast" and g == 0.0 and abs(want) < np.finfo(dtype).tiny:
                continue  # float32 arithmetic on TensorFlow/XLA flushes a subnormal result (FTZ allowance)
            assert want != 0.0 and g != 0.0, (v, g, precision)
            assert abs(g - want) <= _tail_tolerance(dtype, want, precision), (v, g, want, precision)
