"""The functional API: values, gradients (x and parameters), second order, dtypes, jit, errors."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest
import tensorflow as tf

from sgblend_spec import reference, spec


class _ExactTier:
    """The backend with its spec functions in the exact tier: these tests measure that tier's
    1-2 ULP bounds and its bitwise properties (the fast tier: test_precision.py)."""

    def __init__(self, backend):
        self._backend = backend

    def __getattr__(self, name):
        attribute = getattr(self._backend, name)
        if name not in spec.FUNCTIONS:
            return attribute

        def exact(*args, **kwargs):
            kwargs.setdefault("precision", "exact")
            return attribute(*args, **kwargs)

        return exact


@pytest.fixture
def B(B):
    return _ExactTier(B)

# Parameters exactly representable in float32, so the float32 tensors mean the same numbers.
CASES = {
    "swish": {"beta": 1.25},
    "gelu": {},
    "gelu_tanh": {},
    "gelu_sigmoid": {},
    "sswish": {"beta": 0.75, "gamma": 0.25},
    "sgblend": {"alpha": 0.375, "beta": 1.5, "gamma": -0.3125},
    "sgblend_gelu": {"alpha": -0.625, "beta": 0.3125, "gamma": 0.125},
    "sgblend_gelu_tanh": {"alpha": 0.875, "beta": -1.25, "gamma": 0.5},
    "lambda_gelu": {"lam": 2.5},
}


def _ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| in float32 ULPs of want (0 where both are equal, including ±inf)."""
    got, want = got.astype(np.float64), want.astype(np.float64)
    spacing = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    diff = np.where(got == want, 0.0, np.abs(got - want))
    return diff / spacing


def test_module_imports_the_real_tensorflow(B):
    """``sgblend_spec.backends.tensorflow`` must not shadow the framework it imports."""
    assert B.numerics.tf is tf and hasattr(B.numerics.tf, "GradientTape")
    assert B.__name__ == "sgblend_spec.backends.tensorflow"


@pytest.mark.parametrize("function", list(CASES))
def test_values_and_partials_match_reference(B, xs, function):
    params = CASES[function]
    x = tf.constant(xs)
    tensors = {k: tf.fill(x.shape, tf.constant(v, tf.float32)) for k, v in params.items()}
    with tf.GradientTape() as tape:
        tape.watch([x, *tensors.values()])
        y = getattr(B, function)(x, **tensors)
    grads = tape.gradient(y, [x, *tensors.values()])
    assert y.dtype == tf.float32 and y.shape == x.shape
    assert _ulps(y.numpy(), getattr(reference, function)(xs, **params)).max() <= 1
    want = getattr(reference, f"{function}_grad")(xs, **params)
    for key, g in zip(["x", *params], grads):
        assert g.dtype == tf.float32 and g.shape == x.shape
        assert _ulps(g.numpy(), want[key]).max() <= 1, key


@pytest.mark.parametrize("function", ["sgblend", "lambda_gelu", "sswish"])
def test_per_channel_parameter_gradients_are_reduced(B, function):
    """A (C,) parameter broadcast over (N, C) gets Σ_n ∂f/∂p, in its own shape and dtype."""
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((6, 3)) * 3).astype(np.float32)
    base = CASES[function]
    per_channel = {k: np.array([v, v + 0.5, v + 1.0], np.float64) for k, v in base.items()}
    variables = {k: tf.Variable(v) for k, v in per_channel.items()}  # float64 parameters
    with tf.GradientTape() as tape:
        y = getattr(B, function)(tf.constant(x), **variables)
    grads = tape.gradient(y, list(variables.values()))
    for (key, v), g in zip(variables.items(), grads):
        assert g.shape == (3,) and g.dtype == tf.float64
        columns = [
            reference.__dict__[f"{function}_grad"](x[:, c].astype(np.float64),
                                                   **{k: p[c] for k, p in per_channel.items()})[key].sum()
            for c in range(3)
        ]
        np.testing.assert_allclose(g.numpy(), columns, rtol=1e-12, atol=1e-300)


def test_scalar_parameter_gradient_has_the_parameter_shape(B):
    x = tf.constant(np.linspace(-3, 3, 12).reshape(3, 4), tf.float32)
    beta = tf.Variable(1.0)  # shape ()
    with tf.GradientTape() as tape:
        y = B.swish(x, beta)
    g = tape.gradient(y, beta)
    assert g.shape == () and g.dtype == tf.float32
    want = reference.swish_grad(x.numpy(), beta=1.0)["beta"].astype(np.float64).sum()
    assert abs(float(g) - want) <= 1e-6 * abs(want)


def _fd(fn, v: float, h: float = 1e-6) -> float:
    """Central difference of a float64 function (exact partials from the reference)."""
    return (fn(v + h) - fn(v - h)) / (2 * h)


@pytest.mark.parametrize("function", ["sgblend", "sgblend_gelu_tanh", "lambda_gelu", "swish"])
def test_second_order_under_nested_tapes(B, function):
    """∂²f/∂x² from the dxx formula; mixed ∂²f/∂x∂p and ∂²f/∂p² from autodiff of the grad
    formulas, checked against central differences of the reference partials."""
    params = CASES[function]
    xs = np.array([-3.0, -0.75, 0.2, 1.1, 4.0], np.float64)
    x = tf.constant(xs)
    variables = {k: tf.Variable(v, dtype=tf.float64) for k, v in params.items()}
    with tf.GradientTape(persistent=True) as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = getattr(B, function)(x, **variables)
        first = inner.gradient(y, [x, *variables.values()])
    fxx = outer.gradient(first[0], x)
    np.testing.assert_allclose(fxx.numpy(), getattr(reference, f"{function}_dxx")(xs, **params), rtol=1e-13)
    grad_ref = getattr(reference, f"{function}_grad")
    for i, (name, var) in enumerate(variables.items(), start=1):
        # d/dx of Σ_i ∂f(x_i)/∂p is ∂²f/∂p∂x at each x_i.
        mixed = outer.gradient(first[i], x).numpy()
        fd = [_fd(lambda p: grad_ref(np.array([xi]), **{**params, name: p})["x"][0], params[name]) for xi in xs]
        np.testing.assert_allclose(mixed, fd, rtol=1e-6, atol=1e-8)
        # d/dp of Σ ∂f/∂p: Σ ∂²f/∂p².
        pp = float(outer.gradient(first[i], var))
        fd_pp = sum(_fd(lambda p: grad_ref(np.array([xi]), **{**params, name: p})[name][0], params[name]) for xi in xs)
        assert abs(pp - fd_pp) <= 1e-6 * max(1.0, abs(fd_pp)), (name, pp, fd_pp)
    del outer


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_every_dtype_is_rounded_once_from_float64(B, dtype):
    """Values and ∂x in the input dtype, bit-identical to the NumPy reference's single rounding."""
    np_dtype = {"bfloat16": ml_dtypes.bfloat16}.get(dtype, dtype)
    x = np.linspace(-9, 9, 37).astype(np_dtype)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = B.sgblend(xt, 0.4, 1.5, -0.3)
    gx = tape.gradient(y, xt)
    assert y.dtype.name == dtype and gx.dtype.name == dtype
    want_y = reference.sgblend(x, alpha=0.4, beta=1.5, gamma=-0.3).astype(np.float64)
    want_gx = reference.sgblend_grad(x, alpha=0.4, beta=1.5, gamma=-0.3)["x"].astype(np.float64)
    if dtype == "float64":  # native evaluation: TF's exp is not glibc's; within the float64 bound of 8 ULPs
        np.testing.assert_allclose(y.numpy(), want_y, rtol=2e-15, atol=0)
        np.testing.assert_allclose(gx.numpy(), want_gx, rtol=2e-15, atol=0)
        return
    np.testing.assert_array_equal(y.numpy().astype(np.float64), want_y)
    np.testing.assert_array_equal(gx.numpy().astype(np.float64), want_gx)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_subnormals_survive_tensorflow_flush_to_zero(B, dtype):
    """TF flushes subnormals on CPU; the backend widens and rounds on bit patterns instead."""
    np_dtype = {"bfloat16": ml_dtypes.bfloat16}.get(dtype, dtype)
    x = np.array([1e-45, 3e-45, -7e-45, 2e-40, -5e-39, 1.1e-38], np.float32).astype(np_dtype)
    x = x[x != 0]
    want = reference.swish(x, beta=1.0)
    assert np.any(want != 0)
    eager = B.swish(tf.constant(x)).numpy()
    jitted = tf.function(lambda t: B.swish(t), jit_compile=True)(tf.constant(x)).numpy()
    np.testing.assert_array_equal(eager.astype(np.float64), want.astype(np.float64))
    np.testing.assert_array_equal(jitted.astype(np.float64), want.astype(np.float64))


def test_jit_compile_agrees_with_eager(B, xs):
    x = tf.constant(xs)
    alpha, beta, gamma = tf.Variable(0.4), tf.Variable(1.5), tf.Variable(-0.3)

    def step(x):
        with tf.GradientTape(persistent=True) as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = B.sgblend(x, alpha, beta, gamma) + B.lambda_gelu(x, 2.5)
            grads = inner.gradient(y, [x, alpha, beta, gamma])
        return [y, *grads, outer.gradient(grads[0], x)]

    eager = step(x)
    jitted = tf.function(step, jit_compile=True)(x)
    for e, j in zip(eager, jitted):
        # XLA has its own exp/erfc: allow one float32 ULP (the float64 results differ by ~1e-16).
        e, j = e.numpy(), j.numpy()
        if e.ndim:
            assert _ulps(j, e).max() <= 1
        else:
            assert abs(float(j) - float(e)) <= 1e-5 * abs(float(e))


def test_parameter_dtype_does_not_change_the_output_dtype(B):
    x = tf.constant([0.5, -1.5], tf.float16)
    y = B.sgblend(x, tf.constant(0.1, tf.float32), tf.constant(1.0, tf.float64), 0.0)
    assert y.dtype == tf.float16


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("function,name,bad", [
    ("sgblend", "alpha", math.nan), ("sgblend", "beta", math.inf), ("sgblend", "gamma", -math.inf),
    ("swish", "beta", -0.5), ("lambda_gelu", "lam", 0.5), ("sswish", "gamma", math.nan),
])
@pytest.mark.parametrize("kind", ["number", "tensor"])
def test_bad_parameters_raise_naming_them(B, function, name, bad, kind):
    params = {**CASES[function], name: bad}
    if kind == "tensor":
        params[name] = tf.constant([1.0, bad], tf.float32)
    with pytest.raises(ValueError, match=rf"'{name}' must be a finite value in "):
        getattr(B, function)(tf.constant([0.5, 1.0]), **params)


def test_bad_tensor_parameter_in_a_graph_raises_at_run_time(B):
    f = tf.function(lambda x, lam: B.lambda_gelu(x, lam))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"parameter \W*lam\W* must be a finite value in"):
        f(tf.constant([1.0]), tf.constant(0.5))
    assert np.isfinite(f(tf.constant([1.0]), tf.constant(1.5)).numpy()).all()


def test_bad_inputs(B):
    with pytest.raises(TypeError, match="x must have dtype"):
        B.gelu(tf.constant([1, 2], tf.int32))
    with pytest.raises(TypeError, match="'beta' must be real floating point"):
        B.swish(tf.constant([1.0]), tf.constant(1, tf.int32))
    with pytest.raises(TypeError, match="'beta' must be a real number"):
        B.swish(tf.constant([1.0]), "1.0")
    with pytest.raises(TypeError, match="'beta' must be a real number"):
        B.swish(tf.constant([1.0]), True)
    with pytest.raises(TypeError, match="unexpected parameter"):
        B.functional.evaluate("swish", tf.constant([1.0]), {"beta": 1.0, "lam": 2.0})


def test_namespace_is_tensorflow(B):
    ns = B.NAMESPACE
    assert ns.erfc is B.numerics.erfc and ns.exp is tf.exp  # tf.math.erfc outside tflite_builtins()
    # where() accepts a Python number for one branch, in the other branch's dtype.
    out = ns.where(tf.constant([True, False]), 1.702, tf.constant([2.0, 3.0], tf.float64))
    assert out.dtype == tf.float64 and out.numpy().tolist() == [1.702, 3.0]
    assert set(spec.FUNCTIONS) <= set(B.__all__)
