"""Each framework's own GELU and SiLU, measured by the same suite (for the docs' comparison).

    pytest conformance --impl conformance.adapters.native:TorchNative
    pytest conformance --impl conformance.adapters.native:TensorFlowNative
    pytest conformance --impl conformance.adapters.native:JaxNative

``gelu`` is the exact form, ``gelu_tanh`` the tanh form, ``swish`` at β = 1 is SiLU
(``fixed_params`` restricts the suite to β = 1). These implementations are not expected to
meet the bounds: the point is to measure by how much they miss them (``nox -s native``).
Each class imports only its own framework, when it is constructed.
"""

from __future__ import annotations

import numpy as np

FUNCTIONS = ("gelu", "gelu_tanh", "swish")
DTYPES = ("float16", "bfloat16", "float32", "float64")
FIXED = {"swish": {"beta": 1.0}}


class TorchNative:
    functions, dtypes, fixed_params = FUNCTIONS, DTYPES, FIXED

    def __init__(self):
        import torch
        import torch.nn.functional as F

        from conformance.adapters.torch_backend import _to_numpy, _to_torch

        self.name, self.version = "torch-native", f"torch {torch.__version__}"
        self._torch, self._in, self._out = torch, _to_torch, _to_numpy
        self._ops = {
            "gelu": lambda x: F.gelu(x, approximate="none"),
            "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
            "swish": F.silu,
        }

    def value(self, function, x, params):
        with self._torch.no_grad():
            return self._out(self._ops[function](self._in(x)), x.dtype)

    def grad(self, function, x, params):
        xt = self._in(x).requires_grad_()
        (g,) = self._torch.autograd.grad(self._ops[function](xt).sum(), xt)
        return {"x": self._out(g, x.dtype)}

    def dxx(self, function, x, params):
        xt = self._in(x).requires_grad_()
        (g,) = self._torch.autograd.grad(self._ops[function](xt).sum(), xt, create_graph=True)
        (gg,) = self._torch.autograd.grad(g.sum(), xt)
        return self._out(gg, x.dtype)


class TensorFlowNative:
    functions, dtypes, fixed_params = FUNCTIONS, DTYPES, FIXED

    def __init__(self):
        import tensorflow as tf

        from conformance.adapters.tensorflow_backend import _to_numpy, _to_tf

        self.name, self.version = "tensorflow-native", f"tensorflow {tf.__version__}"
        self._tf, self._in, self._out = tf, _to_tf, _to_numpy
        self._ops = {
            "gelu": lambda x: tf.nn.gelu(x, approximate=False),
            "gelu_tanh": lambda x: tf.nn.gelu(x, approximate=True),
            "swish": tf.nn.silu,
        }

    def value(self, function, x, params):
        return self._out(self._ops[function](self._in(x)), x.dtype)

    def grad(self, function, x, params):
        xt = self._in(x)
        with self._tf.GradientTape() as tape:
            tape.watch(xt)
            out = self._ops[function](xt)
        return {"x": self._out(tape.gradient(out, xt), x.dtype)}

    def dxx(self, function, x, params):
        xt = self._in(x)
        with self._tf.GradientTape() as outer:
            outer.watch(xt)
            with self._tf.GradientTape() as inner:
                inner.watch(xt)
                out = self._ops[function](xt)
            g = inner.gradient(out, xt)
        return self._out(outer.gradient(g, xt), x.dtype)


class JaxNative:
    functions, dtypes, fixed_params = FUNCTIONS, DTYPES, FIXED

    def __init__(self):
        import jax

        jax.config.update("jax_enable_x64", True)  # so float64 is float64
        import jax.numpy as jnp

        self.name, self.version = "jax-native", f"jax {jax.__version__}"
        self._jax, self._jnp = jax, jnp
        self._ops = {
            "gelu": lambda x: jax.nn.gelu(x, approximate=False),
            "gelu_tanh": lambda x: jax.nn.gelu(x, approximate=True),
            "swish": jax.nn.silu,
        }

    def _grad_fn(self, function):
        return self._jax.grad(lambda x: self._ops[function](x).sum())

    def value(self, function, x, params):
        return np.asarray(self._ops[function](self._jnp.asarray(x))).astype(x.dtype)

    def grad(self, function, x, params):
        g = self._jax.jit(self._grad_fn(function))(self._jnp.asarray(x))
        return {"x": np.asarray(g).astype(x.dtype)}

    def dxx(self, function, x, params):
        first = self._grad_fn(function)
        gg = self._jax.jit(self._jax.grad(lambda x: first(x).sum()))(self._jnp.asarray(x))
        return np.asarray(gg).astype(x.dtype)
