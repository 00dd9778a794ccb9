"""The λ-GELU training recipe and the activation swap for Keras 3 models, defined once for
every Keras backend in :mod:`sgblend_spec.backends.keras.recipe` and re-exported here."""

from sgblend_spec.backends.keras.recipe import (  # noqa: F401
    HardeningCallback,
    Sites,
    register_lambda_update,
    relu_ize,
    replace_lambda_gelu_with_relu,
    swap_activations,
)
