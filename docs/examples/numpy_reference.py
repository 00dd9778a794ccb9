"""The NumPy reference: values, every derivative, dtypes and parameter checks.

``sgblend_spec.reference`` has three functions per spec name: ``NAME`` (the value),
``NAME_grad`` (a dict of per-element partials in x and each parameter) and ``NAME_dxx``.
"""

import ml_dtypes
import numpy as np

from sgblend_spec import reference, spec

x = np.linspace(-4.0, 4.0, 9)

# SG-Blend at the authors' defaults (alpha = 0, so a = 1/2; beta = 1; gamma = 0).
f = reference.sgblend(x)
partials = reference.sgblend_grad(x)  # {"x", "alpha", "beta", "gamma"}
curvature = reference.sgblend_dxx(x)
print("sgblend(x)      =", np.round(f, 4))
print("d/dx            =", np.round(partials["x"], 4))
print("d/dgamma        =", partials["gamma"][:3], "(= -a = -1/2 everywhere)")
assert sorted(partials) == sorted(spec.FUNCTIONS["sgblend"].quantities[1:-1])
assert np.allclose(partials["gamma"], -0.5)

# The symmetry every function in the spec has: f(x) - f(-x) = x (neither even nor odd).
assert np.allclose(f - reference.sgblend(-x), x)
assert np.allclose(partials["x"] + reference.sgblend_grad(-x)["x"], 1.0)

# Parameters are scalars or arrays that broadcast against x (per-channel).
channels = reference.sgblend(np.ones((2, 3)), beta=np.array([[0.5], [2.0]]))
assert channels.shape == (2, 3)

# Narrow dtypes come back in their own dtype, correctly rounded from a float64 evaluation.
half = reference.lambda_gelu(x.astype(np.float16), lam=2.5)
brain = reference.lambda_gelu(x.astype(ml_dtypes.bfloat16), lam=2.5)
assert half.dtype == np.float16 and brain.dtype == ml_dtypes.bfloat16
print("lambda_gelu(x; 2.5) in float16 =", half)

# A parameter outside its domain is an error that names it and its allowed range.
try:
    reference.lambda_gelu(x, lam=0.5)
except ValueError as error:
    print("rejected:", error)
    assert "lam" in str(error) and "[1, inf)" in str(error)
else:
    raise AssertionError("lam = 0.5 must be rejected")

# The spec records carry the special values the reference reproduces.
record = spec.FUNCTIONS["lambda_gelu"]
for x0, quantity, expected in record.special_values(record.defaults):
    if quantity == "value" and not np.isnan(x0):  # x = ±0 and the limits at ±inf
        assert reference.lambda_gelu(np.array([x0]))[0] == expected, (x0, expected)
print("special values of lambda_gelu agree with the spec")
