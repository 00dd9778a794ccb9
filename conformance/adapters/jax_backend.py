"""Adapter for the JAX backend, ``sgblend_spec.backends.jax``.

It turns jax_enable_x64 on when constructed, so that all four dtypes are tested and
float16/bfloat16/float32 are evaluated in float64 as the backend does with x64 on. Set
``SGBLEND_JAX_X64=0`` to test the x64-off mode instead (float64 is then unavailable, and
float32 is evaluated in float32: expect it over the bounds).

``value`` is the backend's public function, called eagerly (so bad parameters raise).
``grad`` is ``jax.grad`` of the sum over x and over each parameter broadcast to x's shape,
which gives per-element partials through the custom JVP; ``dxx`` is ``grad`` of ``grad``.
Both are jitted (parameters traced) after the parameters are checked eagerly.
"""

from __future__ import annotations

import os

import numpy as np

import sgblend_spec
from sgblend_spec import checks, spec


class JaxBackend:
    name = "jax"
    functions = tuple(spec.FUNCTIONS)
    array_parameters = True  # value() takes NumPy parameter arrays (INPUT_CONTRACT "param.shape")

    def __init__(self) -> None:
        import jax

        x64 = os.environ.get("SGBLEND_JAX_X64", "1") != "0"
        jax.config.update("jax_enable_x64", x64)
        from sgblend_spec.backends import jax as backend

        self._jax = jax
        self._backend = backend
        self.dtypes = spec.DTYPES if x64 else tuple(d for d in spec.DTYPES if d != "float64")
        # XLA's CPU code flushes float64 subnormals to zero (arithmetic, exp and erfc), so
        # float64 is held to the flush-to-zero bound; the narrower dtypes stay exact
        # through the float64 working precision and bit-level conversions.
        self.flushes_subnormals = ("float64",) if x64 else ()
        self.name = "jax" if x64 else "jax-x64-off"
        self.version = f"sgblend_spec {sgblend_spec.__version__}, jax {jax.__version__}, x64 {'on' if x64 else 'off'}"
        self._grad = {}
        self._dxx = {}

    def _function(self, function):
        return getattr(self._backend, function)

    def value(self, function, x, params):
        out = self._function(function)(self._jax.numpy.asarray(x), **params)
        return np.asarray(out)

    def _compiled(self, function):
        """Jitted (x, *params) -> (partials dict, dxx), parameters per element."""
        if function not in self._grad:
            jax, jnp = self._jax, self._jax.numpy
            names = spec.FUNCTIONS[function].param_names
            f = self._function(function)

            def total(x, *values):
                return jnp.sum(f(x, **dict(zip(names, values))))

            def grad(x, *values):
                partials = jax.grad(total, argnums=tuple(range(1 + len(names))))(x, *values)
                return dict(zip(("x", *names), partials))

            def dxx(x, *values):
                return jax.grad(lambda xx: jnp.sum(jax.grad(total)(xx, *values)))(x)

            self._grad[function], self._dxx[function] = jax.jit(grad), jax.jit(dxx)
        return self._grad[function], self._dxx[function]

    def _arguments(self, function, x, params):
        checks.validate(function, params)  # eager check: a traced parameter cannot raise
        jnp = self._jax.numpy
        xj = jnp.asarray(x)
        names = spec.FUNCTIONS[function].param_names
        bound = spec.FUNCTIONS[function].bind(params)
        # Each parameter broadcast to x's shape, in x's dtype (the suite's parameters are
        # representable in it), so its gradient is the per-element partial.
        return xj, [jnp.full(x.shape, bound[n], dtype=xj.dtype) for n in names]

    def grad(self, function, x, params):
        xj, values = self._arguments(function, x, params)
        out = self._compiled(function)[0](xj, *values)
        return {k: np.asarray(v) for k, v in out.items()}

    def dxx(self, function, x, params):
        xj, values = self._arguments(function, x, params)
        return np.asarray(self._compiled(function)[1](xj, *values))
