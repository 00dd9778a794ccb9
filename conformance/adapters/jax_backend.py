"""Adapter for the JAX backend, ``sgblend_spec.backends.jax``, through ``adapt.jax``.

It turns jax_enable_x64 on when constructed, so that all four dtypes are tested and
float16/bfloat16/float32 are evaluated in float64 as the backend does with x64 on. Set
``SGBLEND_JAX_X64=0`` to test the x64-off mode instead (float64 is then unavailable, and
float32 is evaluated in float32: expect it over the bounds).

``value`` is the backend's public function, called eagerly (so bad parameters raise).
``grad`` is ``jax.grad`` of the sum over x and over each parameter broadcast to x's shape,
which gives per-element partials through the custom JVP; ``dxx`` is ``grad`` of ``grad``.
Both are jitted (parameters traced) after the parameters are checked eagerly. The functions
run in the precision tier of the run (``--precision``); with x64 off the exact tier tests
float16 and bfloat16 only (float32 needs float64 there and is an error).
"""

from __future__ import annotations

import functools
import os

import sgblend_spec
from sgblend_spec import checks, spec

from .. import adapt
from ..checks import REPORT


def JaxBackend() -> adapt.Adapter:
    import jax

    x64 = os.environ.get("SGBLEND_JAX_X64", "1") != "0"
    jax.config.update("jax_enable_x64", x64)  # before the backend is imported
    from sgblend_spec.backends import jax as backend

    precision = REPORT.precision

    adapter = adapt.jax(
        {name: functools.partial(getattr(backend, name), precision=precision) for name in spec.FUNCTIONS},
        x64=x64,
        name="jax" if x64 else "jax-x64-off",
        version=f"sgblend_spec {sgblend_spec.__version__}, jax {jax.__version__}, x64 {'on' if x64 else 'off'}, "
                f"precision={precision!r}",
        # XLA's CPU code flushes float64 subnormals to zero (arithmetic, exp and erfc), so
        # float64 is held to the flush-to-zero bound; the narrower dtypes stay exact
        # through the float64 working precision and bit-level conversions. Evaluated in
        # float32 (the fast tier, or x64 off), float32 and bfloat16 subnormals flush too.
        flushes_subnormals=("float64",) + (() if x64 and precision == "exact" else ("float32", "bfloat16")),
        # With x64 off the exact tier refuses float32 (no float64 to evaluate it in).
        dtypes=tuple(d for d in spec.DTYPES if (x64 or d != "float64") and (x64 or precision != "exact"
                                                                               or d != "float32")),
        array_parameters=True,  # value() takes NumPy parameter arrays (INPUT_CONTRACT "param.shape")
        validate=checks.validate,  # eager check: a traced parameter cannot raise
    )
    return adapter
