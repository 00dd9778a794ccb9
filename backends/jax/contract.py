"""The input contract (``spec.INPUT_CONTRACT``) bound to JAX: what ``x`` and the parameters
may be, checked before the differentiation rule runs.

A concrete parameter outside its spec domain raises ``ValueError`` naming it
(``checks.validate``). A parameter that is a tracer (inside ``jit``, ``grad``, ``vmap``...)
cannot be inspected; then an out-of-domain value makes every output element NaN (value and
all derivatives), which ``jax.experimental.checkify`` (``nan_checks``) or ``jax_debug_nans``
turns into an error. The rest of the contract holds under tracing too: ``x`` is a jax.Array
or a NumPy array (Python numbers and lists are a TypeError), a parameter broadcasts to x's
shape, and ``init_params``, ``apply`` and ``import_parameters`` reject integer or complex
parameters and (for imports) non-finite ones.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from sgblend_spec import checks, spec

from .numerics import working_dtype, x64_enabled


def check_precision_available(function: str, x: jax.Array, precision: str) -> None:
    """The "exact" tier evaluates float32 in float64: with x64 off there is none, and that is
    an error naming the cause and the fix, never a silent float32 evaluation."""
    if precision == "exact" and jnp.dtype(x.dtype) == jnp.float32 and not x64_enabled():
        raise ValueError(
            f"{function}: precision='exact' needs float64: enable jax.config.update('jax_enable_x64', True), "
            "or use precision='fast'"
        )


def as_input(function: str, x: Any) -> jax.Array:
    """x as a JAX array of a supported floating dtype; never silently converted
    (spec.INPUT_CONTRACT "x.type", "x.dtype"): a jax.Array or a NumPy array or scalar; a
    Python number or list is a TypeError, and so is float64 NumPy input with x64 off."""
    if isinstance(x, (np.ndarray, np.generic)):
        checks.check_x_dtype(function, np.asarray(x).dtype.name)
        if np.asarray(x).dtype == np.float64 and not x64_enabled():
            raise TypeError(
                f"{function}: x has dtype float64 but jax_enable_x64 is off, so JAX would silently make it "
                "float32; enable x64 (jax.config.update('jax_enable_x64', True)) or pass float32"
            )
    elif not isinstance(x, jax.Array):
        raise checks.x_type_error(function, x, "JAX")
    arr = jnp.asarray(x)
    checks.check_x_dtype(function, jnp.dtype(arr.dtype).name)
    return arr


def check_floating(function: str, name: str, value: jax.Array) -> None:
    """TypeError unless the array parameter ``name`` has a real floating dtype."""
    if not jnp.issubdtype(value.dtype, jnp.floating):
        raise TypeError(f"{function}: parameter '{name}' must be real floating point, got dtype {value.dtype}")


def is_real(v: Any) -> bool:
    """A Python int/float (not bool) or a floating NumPy value."""
    return np.asarray(v).dtype.kind == "f" or (isinstance(v, (int, float)) and not isinstance(v, bool))


def check_parameters(function: str, x: jax.Array, params: Mapping[str, Any],
                     precision: str = "fast") -> tuple[list, jax.Array]:
    """The parameters of ``function`` for input ``x`` (from :func:`as_input`), checked.

    Returns the values in spec order (Python numbers and NumPy arrays as arrays of the
    working dtype of ``precision``) and ``ok``, a boolean scalar: whether every traced parameter lies in its
    domain (concrete ones are checked here and raise). Unknown names are a TypeError, a
    parameter that does not broadcast to x's shape a ValueError.
    """
    record = spec.FUNCTIONS[function]
    bound = record.bind(params)  # TypeError for unknown names
    wd = working_dtype(x.dtype, precision)
    concrete: dict[str, Any] = {}
    traced: list[tuple[spec.Parameter, jax.Array]] = []
    values = []
    for p in record.params:
        v = bound[p.name]
        if isinstance(v, jax.core.Tracer):
            check_floating(function, p.name, v)
            traced.append((p, v))
        elif isinstance(v, jax.Array):
            check_floating(function, p.name, v)
            # checks.validate reads NumPy arrays; bfloat16 goes through float32 because
            # NumPy files ml_dtypes.bfloat16 under kind 'V', not 'f'.
            concrete[p.name] = np.asarray(v.astype(jnp.float32) if v.dtype == jnp.bfloat16 else v)
        else:
            concrete[p.name] = v
            # Python numbers and NumPy arrays take the working dtype (float64 with x64),
            # so a parameter such as beta = 0.3193 is not first rounded to x's dtype.
            v = jnp.asarray(np.asarray(v, dtype=np.float64).astype(wd)) if is_real(v) else v
        values.append(v)
    checks.validate(function, concrete)  # ValueError/TypeError naming the parameter
    for p, v in zip(record.params, values):
        checks.check_parameter_shape(function, p.name, jnp.shape(v), x.shape)
    in_domain = [jnp.all(checks.domain_mask(p, v, jnp.isfinite)) for p, v in traced]
    ok = jnp.stack(in_domain).all() if traced else jnp.asarray(True)
    return values, ok
