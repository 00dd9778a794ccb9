"""JAX: the spec functions as ``jax.custom_jvp`` functions — jit, grad, vmap and second order.

Parameters are ordinary arguments, so they are differentiated like x. The derivatives are
the spec's stable formulas, not autodiff through the value.
"""
# requires: jax

import jax
import jax.numpy as jnp
import numpy as np

from sgblend_spec import reference
from sgblend_spec.backends.jax import lambda_gelu, sgblend

jax.config.update("jax_enable_x64", True)  # float64 here, to compare with the reference exactly

x = jnp.linspace(-4.0, 4.0, 9, dtype=jnp.float64)
params = {"alpha": 0.3, "beta": 2.0, "gamma": 0.1}

value = jax.jit(sgblend)(x, **params)
np.testing.assert_allclose(value, reference.sgblend(np.asarray(x), **params), rtol=1e-15, atol=1e-300)

# d/dx, d/dbeta and d²/dx² of a scalar function of (x, beta).
def f(x0, beta):
    return sgblend(x0, alpha=0.3, beta=beta, gamma=0.1)

d_dx = jax.vmap(jax.grad(f, argnums=0), in_axes=(0, None))(x, 2.0)
d_dbeta = jax.vmap(jax.grad(f, argnums=1), in_axes=(0, None))(x, 2.0)
d2_dx2 = jax.vmap(jax.grad(jax.grad(f, argnums=0), argnums=0), in_axes=(0, None))(x, 2.0)
grads = reference.sgblend_grad(np.asarray(x), **params)
np.testing.assert_allclose(d_dx, grads["x"], rtol=1e-14, atol=1e-300)
np.testing.assert_allclose(d_dbeta, grads["beta"], rtol=1e-14, atol=1e-300)
np.testing.assert_allclose(d2_dx2, reference.sgblend_dxx(np.asarray(x), **params), rtol=1e-13, atol=1e-300)
print("d/dx    ", np.round(np.asarray(d_dx), 4))
print("d2/dx2  ", np.round(np.asarray(d2_dx2), 4))

# λ-GELU: the λ-gradient is x²·φ(λx) ≥ 0.
d_dlam = jax.vmap(jax.grad(lambda x0, lam: lambda_gelu(x0, lam=lam), argnums=1), in_axes=(0, None))(x, 2.5)
assert bool(jnp.all(d_dlam >= 0))
print("d/dlam  ", np.round(np.asarray(d_dlam), 4))
