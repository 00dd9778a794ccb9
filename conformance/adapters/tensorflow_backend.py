"""Adapter for the TensorFlow backend, ``sgblend_spec.backends.tensorflow``, through
``adapt.tensorflow``.

Two modes, chosen by ``SGBLEND_TF_ADAPTER``; ``nox -s conformance`` and ``nox -s tests`` run
the suite in both, ``nox -s fuzz`` in graph mode:

* ``eager`` (the default): values from the functional API called eagerly with the
  suite's parameters as Python numbers (so bad parameters raise), ∂²f/∂x² from nested
  tapes on the same call — the path of a user's functional code.
* ``graph``: values and ∂²f/∂x² run as ``tf.function`` graphs with the parameters as
  scalar tensors — the path of a Keras layer inside ``model.fit`` (variables in a graph,
  Grappler's rewrites included), ~30x faster per call, which makes 100 000 fuzz examples
  practical. Parameters are checked eagerly first (in a graph a bad one is an Assert).

In both modes the per-element partials come from one ``GradientTape`` in a graph
(``conformance/tensorflow_binding.py``).
"""

from __future__ import annotations

import functools
import os

import tensorflow as tf

import sgblend_spec
from sgblend_spec import checks, spec
from sgblend_spec.backends import tensorflow as backend

from .. import adapt
from ..checks import REPORT


def TensorFlowBackend() -> adapt.Adapter:
    mode = os.environ.get("SGBLEND_TF_ADAPTER", "eager")
    if mode not in ("eager", "graph"):
        raise ValueError(f"SGBLEND_TF_ADAPTER must be 'eager' or 'graph', got {mode!r}")
    precision = REPORT.precision  # the run's --precision tier
    adapter = adapt.tensorflow(
        {name: functools.partial(getattr(backend, name), precision=precision) for name in spec.FUNCTIONS},
        graph=mode == "graph",
        name="tensorflow-graph" if mode == "graph" else "tensorflow",
        version=f"sgblend_spec {sgblend_spec.__version__}, tensorflow {tf.__version__}, precision={precision!r}",
        # TensorFlow's CPU kernels and XLA's CPU code run with flush-to-zero and
        # denormals-are-zero, with no switch to turn it off. The backend keeps float16,
        # bfloat16 and float32 subnormals exact (it converts through the bit patterns), but
        # float64 is evaluated natively, so float64 subnormals read and round as 0.
        # In the fast tier float32 is evaluated in float32, so float32 and bfloat16
        # subnormals flush as well.
        flushes_subnormals=("float64",) + (("float32", "bfloat16") if precision == "fast" else ()),
        array_parameters=True,  # value() takes NumPy parameter arrays (INPUT_CONTRACT "param.shape")
        validate=checks.validate,  # eager check: in a graph a bad value gives NaN or an Assert
    )
    return adapter
