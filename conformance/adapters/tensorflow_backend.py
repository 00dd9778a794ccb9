"""Adapter for the TensorFlow backend, ``sgblend_spec.backends.tensorflow``.

Values come from the functional API (eager mode, so bad parameters raise); per-element
partials from one ``GradientTape`` (x and every parameter as tensors broadcast to x's shape,
watched; the gradient of f summed); ∂²f/∂x² from nested tapes (the gradient in x of the sum
of ∂f/∂x, eagerly, with Python-number parameters). The partials run as ``tf.function``
graphs, one per (function, dtype, rank), traced with unknown dimensions: the same ops as
eagerly, ~30x faster per call, which keeps ``nox -s fuzz`` practical.
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
    array_parameters = True  # value() takes NumPy parameter arrays (INPUT_CONTRACT "param.shape")
    # TensorFlow's CPU kernels and XLA's CPU code run with flush-to-zero and
    # denormals-are-zero, with no switch to turn it off. The backend keeps float16,
    # bfloat16 and float32 subnormals exact (it converts through the bit patterns), but
    # float64 is evaluated natively, so float64 subnormals read and round as 0.
    flushes_subnormals = ("float64",)

    def value(self, function, x, params):
        out = getattr(backend, function)(_to_tf(x), **params)
        return _to_numpy(out, x.dtype)

    def __init__(self) -> None:
        self._graphs = {}

    def _graph(self, function, x):
        """The tf.function computing the partials for x's dtype and rank."""
        names = spec.FUNCTIONS[function].param_names
        key = (function, x.dtype, x.shape.rank)
        if key not in self._graphs:
            f = getattr(backend, function)

            def grad(xt, *values):
                tensors = [tf.fill(tf.shape(xt), v) for v in values]
                with tf.GradientTape() as tape:
                    tape.watch([xt, *tensors])
                    out = f(xt, **dict(zip(names, tensors)))
                return tape.gradient(out, [xt, *tensors])

            signature = [tf.TensorSpec([None] * x.shape.rank, x.dtype)] + [tf.TensorSpec([], x.dtype)] * len(names)
            self._graphs[key] = tf.function(grad, input_signature=signature)
        return self._graphs[key]

    def _arguments(self, function, x, params):
        spec.validate(function, params)  # eager check: in the graph a bad value gives NaN or an Assert
        xt = _to_tf(x)
        bound = spec.FUNCTIONS[function].bind(params)
        # Through NumPy: tf.constant(v, dtype=tf.bfloat16) flushes a subnormal v to 0.
        return xt, [_to_tf(np.asarray(bound[n], dtype=x.dtype)) for n in spec.FUNCTIONS[function].param_names]

    def grad(self, function, x, params):
        xt, values = self._arguments(function, x, params)
        grads = self._graph(function, xt)(xt, *values)
        keys = ["x", *spec.FUNCTIONS[function].param_names]
        return {k: _to_numpy(g, x.dtype) for k, g in zip(keys, grads)}

    def dxx(self, function, x, params):
        # Eager, with Python-number parameters: the path a user's nested tapes take for a
        # functional call (parameters as tensors are covered by ``grad``).
        xt = _to_tf(x)
        with tf.GradientTape() as outer:
            outer.watch(xt)
            with tf.GradientTape() as inner:
                inner.watch(xt)
                out = getattr(backend, function)(xt, **params)
            fx = inner.gradient(out, xt)
        fxx = outer.gradient(fx, xt)
        return _to_numpy(fxx, x.dtype)
