"""Adapter for the TensorFlow backend, ``sgblend_spec.backends.tensorflow``.

Two modes, chosen by ``SGBLEND_TF_ADAPTER``; ``nox -s conformance`` and ``nox -s tests`` run
the suite in both, ``nox -s fuzz`` in graph mode:

* ``eager`` (the default): values from the functional API called eagerly with the
  suite's parameters as Python numbers (so bad parameters raise), ∂²f/∂x² from nested
  tapes on the same call — the path of a user's functional code.
* ``graph``: values and ∂²f/∂x² run as ``tf.function`` graphs, one per
  (quantity, function, dtype, rank), traced with unknown dimensions and the parameters as
  scalar tensors — the path of a Keras layer inside ``model.fit`` (variables in a graph,
  Grappler's rewrites included), ~30x faster per call, which makes 100 000 fuzz examples
  practical. Parameters are checked eagerly first (in a graph a bad one is an Assert);
  anything that is not a float x with Python-number parameters (array parameters, an
  integer x) takes the eager path.

In both modes the per-element partials come from one ``GradientTape`` in a graph (x and
every parameter as tensors broadcast to x's shape, watched; the gradient of f summed).
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

import sgblend_spec
from sgblend_spec import checks, spec
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

    def __init__(self) -> None:
        mode = os.environ.get("SGBLEND_TF_ADAPTER", "eager")
        if mode not in ("eager", "graph"):
            raise ValueError(f"SGBLEND_TF_ADAPTER must be 'eager' or 'graph', got {mode!r}")
        self.graph = mode == "graph"
        if self.graph:
            self.name = "tensorflow-graph"
        self._graphs = {}

    def _graph(self, quantity, function, x):
        """The tf.function computing ``quantity`` for x's dtype and rank."""
        names = spec.FUNCTIONS[function].param_names
        key = (quantity, function, x.dtype, x.shape.rank)
        if key not in self._graphs:
            f = getattr(backend, function)

            def value(xt, *values):
                return f(xt, **dict(zip(names, values)))

            def grad(xt, *values):
                tensors = [tf.fill(tf.shape(xt), v) for v in values]
                with tf.GradientTape() as tape:
                    tape.watch([xt, *tensors])
                    out = f(xt, **dict(zip(names, tensors)))
                return tape.gradient(out, [xt, *tensors])

            def dxx(xt, *values):
                return _second_derivative(f, xt, dict(zip(names, values)))

            signature = [tf.TensorSpec([None] * x.shape.rank, x.dtype)] + [tf.TensorSpec([], x.dtype)] * len(names)
            body = {"value": value, "grad": grad, "dxx": dxx}[quantity]
            self._graphs[key] = tf.function(body, input_signature=signature)
        return self._graphs[key]

    def _in_graph(self, x, params) -> bool:
        """Whether graph mode applies: a floating x and Python-number parameters."""
        return self.graph and x.dtype.name in spec.DTYPES and all(isinstance(v, float) for v in params.values())

    def value(self, function, x, params):
        if self._in_graph(x, params):
            xt, values = self._arguments(function, x, params)
            return _to_numpy(self._graph("value", function, xt)(xt, *values), x.dtype)
        out = getattr(backend, function)(_to_tf(x), **params)
        return _to_numpy(out, x.dtype)

    def _arguments(self, function, x, params):
        checks.validate(function, params)  # eager check: in the graph a bad value gives NaN or an Assert
        xt = _to_tf(x)
        bound = spec.FUNCTIONS[function].bind(params)
        # Through NumPy: tf.constant(v, dtype=tf.bfloat16) flushes a subnormal v to 0.
        return xt, [_to_tf(np.asarray(bound[n], dtype=x.dtype)) for n in spec.FUNCTIONS[function].param_names]

    def grad(self, function, x, params):
        xt, values = self._arguments(function, x, params)
        grads = self._graph("grad", function, xt)(xt, *values)
        keys = ["x", *spec.FUNCTIONS[function].param_names]
        return {k: _to_numpy(g, x.dtype) for k, g in zip(keys, grads)}

    def dxx(self, function, x, params):
        if self._in_graph(x, params):
            xt, values = self._arguments(function, x, params)
            return _to_numpy(self._graph("dxx", function, xt)(xt, *values), x.dtype)
        xt = _to_tf(x)
        return _to_numpy(_second_derivative(getattr(backend, function), xt, params), x.dtype)


def _second_derivative(f, xt: tf.Tensor, params: dict) -> tf.Tensor:
    """∂²f/∂x² elementwise by nested tapes: the gradient in x of the sum of ∂f/∂x."""
    with tf.GradientTape() as outer:
        outer.watch(xt)
        with tf.GradientTape() as inner:
            inner.watch(xt)
            out = f(xt, **params)
        fx = inner.gradient(out, xt)
    return outer.gradient(fx, xt)
