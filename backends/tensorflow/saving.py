"""``load_model`` for Keras files holding this package's layers, defined in
:mod:`sgblend_spec.backends.keras.saving` (every Keras backend) and re-exported here."""

from sgblend_spec.backends.keras.saving import HINT, MODULES, explain, load_model  # noqa: F401
