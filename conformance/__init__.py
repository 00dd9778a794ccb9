"""The sgblend-spec conformance suite, installed as ``sgblend_spec.conformance``.

    pip install "sgblend-spec[conformance]"
    sgblend-conformance --backend numpy|torch|tensorflow|jax
    sgblend-conformance --impl package.module:attribute     # python -m sgblend_spec.conformance ...

From a checkout, ``pytest conformance --backend NAME`` runs the same suite. An
implementation is an object of the adapter protocol (``adapters/__init__.py``);
``adapt.torch``, ``adapt.jax``, ``adapt.tensorflow`` and ``adapt.numpy`` build one from a
function ``f(x, **params)`` or a Keras layer.
"""
