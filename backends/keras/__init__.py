"""Keras 3 binding for every Keras backend: TensorFlow, JAX and PyTorch.

The layers evaluate through the active Keras backend's own binding (:mod:`.dispatch`:
``keras.backend.backend()`` → :mod:`sgblend_spec.backends.tensorflow`, ``.jax`` or ``.torch``),
importing only that framework, so values, gradients and precision tiers are that binding's.
One module per job, the same names as the other backends where the job is the same:

* :mod:`.dispatch` — the active backend's ``evaluate`` (and its widest float dtype)
* :mod:`.layers`   — the Keras layers, registered serializable under "sgblend_spec"
* :mod:`.base`     — what the layers share (dtype policy, tier, weights, checked loading)
* :mod:`.weights`  — the weights' initializer (``ExactConstant``, registered "Fill") and constraints
* :mod:`.recipe`   — the λ-GELU training recipe and the activation swap
* :mod:`.saving`   — ``load_model`` whose error says which import registers the layers

::

    from sgblend_spec.backends.keras import SGBlend
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), SGBlend(), keras.layers.Dense(1)])
"""

from .dispatch import SUPPORTED
from .layers import DIRECT_ALPHA_EPS, GELU, LambdaGELU, SGBlend, SSwish, Swish, export_parameters
from .recipe import HardeningCallback, Sites, register_lambda_update, swap_activations
from .recipe import relu_ize, replace_lambda_gelu_with_relu  # relu_ize: the former name
from .saving import load_model
from .weights import Clip, ExactConstant, Fill

__all__ = [
    "SUPPORTED",
    "DIRECT_ALPHA_EPS",
    "Clip",
    "ExactConstant",
    "Fill",
    "Swish",
    "GELU",
    "SSwish",
    "SGBlend",
    "LambdaGELU",
    "export_parameters",
    "register_lambda_update",
    "HardeningCallback",
    "swap_activations",
    "replace_lambda_gelu_with_relu",
    "relu_ize",
    "Sites",
    "load_model",
]
