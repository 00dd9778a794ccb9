"""Adapter for the NumPy reference, ``sgblend_spec.reference``."""

from __future__ import annotations

import numpy as np

import sgblend_spec
from sgblend_spec import reference, spec


class NumpyReference:
    name = "numpy"
    version = f"sgblend_spec {sgblend_spec.__version__}, numpy {np.__version__}"
    functions = tuple(spec.FUNCTIONS)
    dtypes = spec.DTYPES
    array_parameters = True  # value() takes NumPy parameter arrays (INPUT_CONTRACT "param.shape")

    def value(self, function, x, params):
        return getattr(reference, function)(x, **params)

    def grad(self, function, x, params):
        return getattr(reference, f"{function}_grad")(x, **params)

    def dxx(self, function, x, params):
        return getattr(reference, f"{function}_dxx")(x, **params)
