"""Adapter for the NumPy reference, ``sgblend_spec.reference``, through ``adapt.numpy``.

The reference evaluates in the run's precision tier (``--precision``, read from the report at
each call) unless the factory is given one: ``NumpyReference(precision="fast")``.
"""

from __future__ import annotations

import functools

import numpy as np

import sgblend_spec
from sgblend_spec import reference, spec

from .. import adapt


def NumpyReference(precision: str | None = None) -> adapt.Adapter:
    def tier() -> str:
        if precision is not None:
            return precision
        from ..checks import REPORT

        return REPORT.precision

    def bound(function):
        @functools.wraps(function)
        def call(x, **params):
            return function(x, precision=tier(), **params)

        return call

    def table(suffix: str) -> dict:
        return {name: bound(getattr(reference, name + suffix)) for name in spec.FUNCTIONS}

    return adapt.numpy(
        table(""), grad=table("_grad"), dxx=table("_dxx"),
        name="numpy", version=f"sgblend_spec {sgblend_spec.__version__}, numpy {np.__version__}",
        array_parameters=True,  # value() takes NumPy parameter arrays (INPUT_CONTRACT "param.shape")
    )
