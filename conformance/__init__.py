"""The sgblend-spec conformance suite (run with pytest from this directory's parent).

    pytest conformance --backend numpy|torch|tensorflow|jax
    pytest conformance --impl package.module:attribute

See ``conformance/adapters/__init__.py`` for the adapter protocol an external
implementation provides.
"""
