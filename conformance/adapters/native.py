"""Each framework's own GELU and SiLU, measured by the same suite (for the docs' comparison).

    pytest conformance --impl conformance.adapters.native:TorchNative
    pytest conformance --impl conformance.adapters.native:TensorFlowNative
    pytest conformance --impl conformance.adapters.native:JaxNative

``gelu`` is the exact form, ``gelu_tanh`` the tanh form, ``swish`` at β = 1 is SiLU
(``fixed_params`` restricts the suite to β = 1). These implementations are not expected to
meet the bounds: the point is to measure by how much they miss them (``nox -s native``).
Each class imports only its own framework, when it is constructed.
"""

from __future__ import annotations

from .. import adapt

DTYPES = ("float16", "bfloat16", "float32", "float64")
FIXED = {"swish": {"beta": 1.0}}


def TorchNative() -> adapt.Adapter:
    import torch
    import torch.nn.functional as F

    return adapt.torch({
        "gelu": lambda x: F.gelu(x, approximate="none"),
        "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
        "swish": lambda x, beta=1.0: F.silu(x),
    }, name="torch-native", version=f"torch {torch.__version__}", dtypes=DTYPES, fixed_params=FIXED)


def TensorFlowNative() -> adapt.Adapter:
    import tensorflow as tf

    return adapt.tensorflow({
        "gelu": lambda x: tf.nn.gelu(x, approximate=False),
        "gelu_tanh": lambda x: tf.nn.gelu(x, approximate=True),
        "swish": lambda x, beta=1.0: tf.nn.silu(x),
    }, name="tensorflow-native", version=f"tensorflow {tf.__version__}", dtypes=DTYPES, fixed_params=FIXED)


def JaxNative() -> adapt.Adapter:
    import jax

    return adapt.jax({  # x64 on, so that float64 is float64
        "gelu": lambda x: jax.nn.gelu(x, approximate=False),
        "gelu_tanh": lambda x: jax.nn.gelu(x, approximate=True),
        "swish": lambda x, beta=1.0: jax.nn.silu(x),
    }, name="jax-native", version=f"jax {jax.__version__}", dtypes=DTYPES, fixed_params=FIXED)
