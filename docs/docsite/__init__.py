"""The reference site's pages, one module per page kind; ``docs/build.py`` runs them.

* ``common``: the HTML skeleton and navigation, LaTeX → MathML, docstring → HTML, tables.
* ``function_pages``: one page per spec function (definition, derivatives, parameters,
  special values, identities, decisions, variants, training recipe), and the check that
  every spec field is rendered; ``plots`` draws its figures.
* ``accuracy``: the accuracy contract (tolerance model, input contract) and the measured
  conformance tables.
* ``speed``: the benchmark tables.
* ``api``: the API reference; ``api_source`` finds the public names of the NumPy reference
  and of the backends in their source and ``api_signatures`` writes their signatures, so
  the page is complete whatever frameworks are installed.
* ``home``: the index page and the usage examples; ``static_pages``: ``docs/pages/*.html``.
"""
