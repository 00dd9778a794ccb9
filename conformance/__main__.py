"""``python -m sgblend_spec.conformance``: the same as the ``sgblend-conformance`` command."""

import sys

from .cli import main

sys.exit(main())
