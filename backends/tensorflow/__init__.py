"""TensorFlow / Keras 3 binding: functional API with ``tf.custom_gradient``, Keras layers.

Every value and derivative comes from :data:`sgblend_spec.formulas.FORMULAS`, evaluated
through the TensorFlow :data:`NAMESPACE`; nothing here restates a formula. One module per job:

* :mod:`.numerics`   — the namespace, exact widening to float64, single rounding, reductions
* :mod:`.contract`   — the input contract (``spec.INPUT_CONTRACT``) for TensorFlow arguments
* :mod:`.autodiff`   — one ``tf.custom_gradient`` op per function, second derivatives
* :mod:`.functional` — ``evaluate`` and the nine public functions::

    swish(x, beta)    gelu(x)    gelu_tanh(x)    gelu_sigmoid(x)    sswish(x, beta, gamma)
    sgblend(x, alpha, beta, gamma)    sgblend_gelu(...)    sgblend_gelu_tanh(...)    lambda_gelu(x, lam)

* :mod:`.layers`     — the Keras layers (registered serializable under "sgblend_spec")
* :mod:`.recipe`     — the λ-GELU training recipe and the activation swap
* :mod:`.saving`     — ``load_model`` whose error says which import registers the layers

The last three re-export :mod:`sgblend_spec.backends.keras`, the Keras 3 layers for every
Keras backend (TensorFlow, JAX, torch); under ``KERAS_BACKEND=tensorflow`` they run on
:func:`.functional.evaluate`.
"""

from .functional import (
    gelu,
    gelu_sigmoid,
    gelu_tanh,
    lambda_gelu,
    sgblend,
    sgblend_gelu,
    sgblend_gelu_tanh,
    sswish,
    swish,
)
from .layers import (
    DIRECT_ALPHA_EPS,
    GELU,
    Clip,
    ExactConstant,
    Fill,
    LambdaGELU,
    SGBlend,
    SSwish,
    Swish,
    export_parameters,
)
from .numerics import NAMESPACE
from .recipe import HardeningCallback, Sites, register_lambda_update, swap_activations
from .recipe import relu_ize, replace_lambda_gelu_with_relu  # relu_ize: the former name
from .saving import load_model

__all__ = [
    "export_parameters",
    "NAMESPACE",
    "swish",
    "gelu",
    "gelu_tanh",
    "gelu_sigmoid",
    "sswish",
    "sgblend",
    "sgblend_gelu",
    "sgblend_gelu_tanh",
    "lambda_gelu",
    "Clip",
    "Swish",
    "GELU",
    "SSwish",
    "SGBlend",
    "LambdaGELU",
    "register_lambda_update",
    "HardeningCallback",
    "swap_activations",
    "replace_lambda_gelu_with_relu",
    "relu_ize",
    "Sites",
    "load_model",
]
