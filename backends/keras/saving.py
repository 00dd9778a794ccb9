"""Loading Keras files that hold this package's layers, with an error that says what to import.

Keras finds a custom class of a ``.keras`` file only in its registry of serializable objects,
which importing :mod:`sgblend_spec.backends.keras` (or :mod:`sgblend_spec.backends.tensorflow`,
which re-exports it) fills (``register_keras_serializable``,
package "sgblend_spec"). Keras never imports a non-Keras module named in a file (by design: a
file must not run code, ``serialization_lib._retrieve_class_or_fn``) and has no hook that
runs before a class is looked up, so a plain ``keras.models.load_model`` in a process that has
not imported this package cannot say more than Keras' own "Could not locate class 'SGBlend'"
(wrapped, for a layer inside a model, in "<class Sequential> could not be deserialized
properly"). :func:`load_model` here registers the classes (importing this module does) and
puts the import to use on the first line of any error that names a class of this package.
"""

from __future__ import annotations

import keras

from . import layers

#: The first line of the error for a file whose sgblend_spec layers could not be rebuilt.
HINT = (f"the Keras file uses {layers.PACKAGE} layers: `import sgblend_spec.backends.keras` "
        "(which registers them) before loading it")

#: The modules that have defined the layers (files name the module of each class).
MODULES = (layers.__name__, "sgblend_spec.backends.tensorflow.layers")


def explain(error: BaseException) -> BaseException:
    """``error`` with :data:`HINT` as its first line when its message names a class of this
    package (registered name "sgblend_spec>..."); otherwise ``error`` itself."""
    message = str(error)
    if f"'{layers.PACKAGE}>" in message or any(f"'{module}'" in message for module in MODULES):
        return type(error)(f"{HINT}\n\n{error}")
    return error


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """``keras.models.load_model`` with this package's layers registered; an error naming one
    of them starts with :data:`HINT`. A file saved under any Keras backend loads under any
    other; layers saved without a ``precision`` (before the tiers) load as "exact"."""
    try:
        return keras.models.load_model(filepath, custom_objects=custom_objects, compile=compile,
                                       safe_mode=safe_mode)
    except (TypeError, ValueError) as error:
        explained = explain(error)
        if explained is error:
            raise
        raise explained from error
