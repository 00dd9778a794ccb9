"""Helpers of the Keras tests: the active backend and differentiation with its own autodiff.

(A module of its own, not conftest.py: test directories share the module name "conftest".)
"""

from __future__ import annotations

import keras
import numpy as np

FRAMEWORK = keras.backend.backend()


def numpy(t) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(t))


def grads(fn, x: np.ndarray, variables: list) -> tuple[np.ndarray, list[np.ndarray]]:
    """(fn(x), [∂Σfn/∂x, ∂Σfn/∂v for v in variables]) with the active backend's autodiff.

    ``fn(x_tensor, values)``: ``values`` are the variables' current tensors, in order."""
    if FRAMEWORK == "tensorflow":
        import tensorflow as tf

        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            values = [tf.convert_to_tensor(v) for v in variables]
            for v in values:
                tape.watch(v)
            y = fn(xt, values)
            total = tf.reduce_sum(tf.cast(y, tf.float64))
        return numpy(y), [numpy(g) for g in tape.gradient(total, [xt, *values])]
    if FRAMEWORK == "jax":
        import jax
        import jax.numpy as jnp

        def total(xv, values):
            y = fn(xv, values)
            return jnp.sum(y.astype(jnp.float32)), y

        values = [jnp.asarray(keras.ops.convert_to_numpy(v)) for v in variables]
        (gx, gv), y = jax.grad(total, argnums=(0, 1), has_aux=True)(jnp.asarray(x), values)
        return numpy(y), [numpy(gx), *map(numpy, gv)]
    import torch

    xt = torch.tensor(x, requires_grad=True)
    values = [torch.tensor(keras.ops.convert_to_numpy(v), requires_grad=True) for v in variables]
    y = fn(xt, values)
    got = torch.autograd.grad(y.to(torch.float64).sum(), [xt, *values])
    return numpy(y), [numpy(g) for g in got]
