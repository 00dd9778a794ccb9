"""The Keras 3 layers, defined once for every Keras backend in
:mod:`sgblend_spec.backends.keras.layers` and re-exported here (same classes, same registered
names "sgblend_spec>SGBlend" ...). Under ``KERAS_BACKEND=tensorflow`` they evaluate through
this package's :func:`.functional.evaluate`."""

from sgblend_spec.backends.keras.layers import (  # noqa: F401
    DIRECT_ALPHA_EPS,
    GELU,
    PACKAGE,
    Clip,
    Fill,
    LambdaGELU,
    SGBlend,
    SSwish,
    Swish,
    constraint,
    export_parameters,
    initial_beta,
)
