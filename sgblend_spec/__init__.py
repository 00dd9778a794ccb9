"""sgblend-spec: the specification and reference implementations of SSwish, SG-Blend and λ-GELU.

Importing this package never imports a machine-learning framework. The pieces:

* :mod:`sgblend_spec.spec` — one declarative record per function (the spec as data);
* :mod:`sgblend_spec.formulas` — the stable formulas, written once against an array namespace;
* :mod:`sgblend_spec.mp` — the mpmath oracle, correctly rounded to each dtype;
* :mod:`sgblend_spec.reference` — the formulas bound to NumPy (``NAME``, ``NAME_grad``, ``NAME_dxx``);
* :mod:`sgblend_spec.backends` — PyTorch, TensorFlow/Keras and JAX bindings, each imported on demand.
"""

from sgblend_spec.spec import FUNCTIONS

__version__ = "0.1.0"
__all__ = ["FUNCTIONS", "__version__"]
