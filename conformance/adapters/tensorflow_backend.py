"""Adapter for the TensorFlow backend, ``sgblend_spec.backends.tensorflow``.

Values come from the functional API (eager mode); per-element partials from one
``GradientTape`` (x and every parameter as tensors broadcast to x's shape, watched; the
gradient of f summed); ∂²f/∂x² from nested tapes (the gradient in x of the sum of ∂f/∂x).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

import sgblend_spec
from sgblend_spec import spec
from sgblend_spec.backends import tensorflow as backend


def _to_tf(x: np.ndarray) -> tf.Tensor:
    """NumPy (ml_dtypes.bfloat16 included) to a tensor of the same dtype and bits."""
    return tf.constant(np.array(x, copy=True))  # a copy: strided views become contiguous


def _to_numpy(t: tf.Tensor, dtype: np.dtype) -> np.ndarray:
    out = t.numpy()
    if out.dtype != dtype:  # TensorFlow's bfloat16 NumPy type is ml_dtypes.bfloat16: same bits
        out = out.view(dtype) if out.dtype.itemsize == dtype.itemsize else out.astype(dtype)
    return np.asarray(out).reshape(np.shape(t))


class TensorFlowBackend:
    name = "tensorflow"
    version = f"sgblend_spec {sgblend_spec.__version__}, tensorflow {tf.__version__}"
    functions = tuple(spec.FUNCTIONS)
    dtypes = spec.DTYPES
    # TensorFlow's CPU kernels and XLA's CPU code run with flush-to-zero and
    # denormals-are-zero, with no switch to turn it off. The backend keeps float16,
    # bfloat16 and float32 subnormals exact (it converts through the bit patterns), but
    # float64 is evaluated natively, so float64 subnormals read and round as 0.
    flushes_subnormals = ("float64",)

    def value(self, function, x, params):
        out = getattr(backend, function)(_to_tf(x), **params)
        return _to_numpy(out, x.dtype)

    def grad(self, function, x, params):
        xt = _to_tf(x)
        tensors = {k: tf.fill(tf.shape(xt), tf.constant(v, dtype=xt.dtype)) for k, v in params.items()}
        with tf.GradientTape() as tape:
            tape.watch([xt, *tensors.values()])
            out = getattr(backend, function)(xt, **tensors)
        grads = tape.gradient(out, [xt, *tensors.values()])
        keys = ["x", *tensors]
        return {k: _to_numpy(g, x.dtype) for k, g in zip(keys, grads)}

    def dxx(self, function, x, params):
        xt = _to_tf(x)
        with tf.GradientTape() as outer:
            outer.watch(xt)
            with tf.GradientTape() as inner:
                inner.watch(xt)
                out = getattr(backend, function)(xt, **params)
            fx = inner.gradient(out, xt)
        fxx = outer.gradient(fx, xt)
        return _to_numpy(fxx, x.dtype)
