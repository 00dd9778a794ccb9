"""The Keras 3 layers, defined once for every Keras backend in
:mod:`sgblend_spec.backends.keras.layers` (their initializer and constraints in
:mod:`sgblend_spec.backends.keras.weights`) and re-exported here (same classes, same registered
names "sgblend_spec>SGBlend" ...). Under ``KERAS_BACKEND=tensorflow`` they evaluate through
this package's :func:`.functional.evaluate`."""

from sgblend_spec.backends.keras.layers import (  # noqa: F401
    DIRECT_ALPHA_EPS,
    GELU,
    LambdaGELU,
    SGBlend,
    SSwish,
    Swish,
    export_parameters,
)
from sgblend_spec.backends.keras.weights import (  # noqa: F401
    PACKAGE,
    Clip,
    ExactConstant,
    Fill,
    constraint,
    initial_beta,
)
