"""The adapter protocol: how the suite talks to an implementation under test.

An implementation is any object with::

    name: str                      # shown in the report
    version: str
    functions: Collection[str]     # spec names it implements ("sgblend", "lambda_gelu", ...)
    dtypes: Collection[str]        # of "float16", "bfloat16", "float32", "float64"
    value(function, x, params) -> np.ndarray
    grad(function, x, params)  -> dict[str, np.ndarray]   # optional: "x" and each parameter
    dxx(function, x, params)   -> np.ndarray              # optional: ∂²f/∂x²

The helpers of ``adapt`` (``adapt.torch``, ``adapt.jax``, ``adapt.tensorflow`` for functions
and Keras layers, ``adapt.numpy``) build one from a framework function ``f(x, **params)``,
the derivatives through that framework's autodiff; the built-in backends' adapters in this
folder are such uses of ``adapt``.

``x`` is a NumPy array of the dtype (bfloat16 is ``ml_dtypes.bfloat16``), ``params`` maps
parameter names to Python floats exactly representable in that dtype. Results are NumPy
arrays of ``x``'s shape and dtype; parameter partials are per element (∂f(x_i)/∂p), not
summed. A parameter outside its domain must raise an exception whose message names the
parameter. A missing ``grad``/``dxx`` skips those checks (reported as "n/a"). An optional
``flushes_subnormals: Collection[str]`` names dtypes in which the implementation flushes
subnormals to zero; they are held to the flush-to-zero bound (see ``conformance/ulp.py``),
marked "(FTZ)" in the report, and their figures under the exact model shown beside. An
optional ``fixed_params: dict[str, dict[str, float]]``
restricts a function to one parameter set (a native SiLU is ``swish`` at β = 1). An
optional ``array_parameters: bool`` (default False) declares that ``value`` also accepts
parameters as NumPy arrays that broadcast to ``x``'s shape (per-channel, any floating dtype)
and rejects, naming the parameter, one that does not; the suite then checks that
(``spec.INPUT_CONTRACT``). Every implementation is expected to raise TypeError for an
integer, bool or complex ``x``. These input-contract rules are reported in a section of
their own, apart from accuracy.

``--impl package.module:attribute`` loads an implementation: the attribute is either such
an object or a zero-argument factory returning one. With ``--impl-function NAME`` the
attribute is instead a plain NumPy function ``f(x, **params)`` implementing spec function
NAME (values only), wrapped by ``adapt.numpy``.
"""

from __future__ import annotations

import importlib
from typing import Collection, Protocol, runtime_checkable

import numpy as np

#: --backend NAME -> the "module:attribute" of its adapter factory.
BACKENDS = {
    "numpy": f"{__name__}.numpy_reference:NumpyReference",
    "torch": f"{__name__}.torch_backend:TorchBackend",
    "tensorflow": f"{__name__}.tensorflow_backend:TensorFlowBackend",
    "jax": f"{__name__}.jax_backend:JaxBackend",
}


@runtime_checkable
class Implementation(Protocol):
    name: str
    version: str
    functions: Collection[str]
    dtypes: Collection[str]

    def value(self, function: str, x: np.ndarray, params: dict[str, float]) -> np.ndarray: ...


def load(spec: str, function: str | None = None, framework: str = "numpy") -> Implementation:
    """Import ``module:attribute`` and return the implementation it names (with ``function``:
    a plain ``f(x, **params)`` of that framework, wrapped by ``adapt.<framework>``).

    Any import error propagates: requesting an implementation that cannot be imported is
    a failure, never a skip.
    """
    module_name, _, attribute = spec.partition(":")
    if not attribute:
        raise ValueError(f"--impl expects 'package.module:attribute', got {spec!r}")
    obj = getattr(importlib.import_module(module_name), attribute)
    if function is not None:
        from .. import adapt

        options = {"dtypes": ("float32", "float64")} if framework == "numpy" else {}
        obj = getattr(adapt, framework)(obj, function=function, **options)
    elif isinstance(obj, type) or (callable(obj) and not isinstance(obj, Implementation)):
        obj = obj()
    if not isinstance(obj, Implementation):
        raise TypeError(f"{spec} is not an implementation (see conformance/adapters/__init__.py)")
    LOADED[id(obj)] = (spec, function, framework)
    return obj


#: id(implementation) -> the arguments of ``load`` that produced it (for repro lines).
LOADED: dict[int, tuple[str, str | None, str]] = {}
