"""Adapter for the JAX backend, ``sgblend_spec.backends.jax``, through ``adapt.jax``.

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

import sgblend_spec
from sgblend_spec import checks, spec

from .. import adapt


def JaxBackend() -> adapt.Adapter:
    import jax

    x64 = os.environ.get("SGBLEND_JAX_X64", "1") != "0"
    jax.config.update("jax_enable_x64", x64)  # before the backend is imported
    from sgblend_spec.backends import jax as backend

    return adapt.jax(
        {name: getattr(backend, name) for name in spec.FUNCTIONS}, x64=x64,
        name="jax" if x64 else "jax-x64-off",
        version=f"sgblend_spec {sgblend_spec.__version__}, jax {jax.__version__}, x64 {'on' if x64 else 'off'}",
        # XLA's CPU code flushes float64 subnormals to zero (arithmetic, exp and erfc), so
        # float64 is held to the flush-to-zero bound; the narrower dtypes stay exact
        # through the float64 working precision and bit-level conversions.
        flushes_subnormals=("float64",) if x64 else (),
        array_parameters=True,  # value() takes NumPy parameter arrays (INPUT_CONTRACT "param.shape")
        validate=checks.validate,  # eager check: a traced parameter cannot raise
    )
