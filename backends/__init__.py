"""Framework bindings, installed as ``sgblend_spec.backends``.

Each submodule imports its framework and nothing else; importing this package imports
none of them::

    from sgblend_spec.backends.torch import SGBlend        # PyTorch
    from sgblend_spec.backends.tensorflow import SGBlend   # TensorFlow / Keras 3
    from sgblend_spec.backends.jax import sgblend          # JAX
    from sgblend_spec.backends.keras import SGBlend        # Keras 3 on TensorFlow, JAX or PyTorch
"""

AVAILABLE = ("torch", "tensorflow", "jax")
