"""Adapter for the NumPy reference, ``sgblend_spec.reference``, through ``adapt.numpy``."""

from __future__ import annotations

import numpy as np

import sgblend_spec
from sgblend_spec import reference, spec

from .. import adapt


def NumpyReference() -> adapt.Adapter:
    def table(suffix: str) -> dict:
        return {name: getattr(reference, name + suffix) for name in spec.FUNCTIONS}

    return adapt.numpy(
        table(""), grad=table("_grad"), dxx=table("_dxx"),
        name="numpy", version=f"sgblend_spec {sgblend_spec.__version__}, numpy {np.__version__}",
        array_parameters=True,  # value() takes NumPy parameter arrays (INPUT_CONTRACT "param.shape")
    )
