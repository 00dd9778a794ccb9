"""How many Hypothesis examples the property tests run, and how many they did run.

Under the "ci" and "thorough" profiles every Hypothesis test runs the profile's
``max_examples``. Under "fuzz" (``nox -s fuzz``) a total budget per run,
``SGBLEND_FUZZ_EXAMPLES`` (default 100 000), is spread evenly over the Hypothesis tests
collected, so that a run meets the budget in a practical time however many functions and
dtypes are selected. Each property counts the examples it executes (generation, replay of
the example database and shrinking alike), and the run ends with the totals.
"""

from __future__ import annotations

import math
import os
from collections import Counter

#: Total examples per fuzz run (one backend), spread over its Hypothesis tests.
FUZZ_EXAMPLES = int(os.environ.get("SGBLEND_FUZZ_EXAMPLES", "100000"))

#: Hypothesis tests carry this marker; conftest counts them at collection.
MARKER = "hypothesis_budget"

#: Examples executed, per test node id.
EXECUTED: Counter[str] = Counter()

_per_test: int | None = None  # set at collection when fuzzing


def fuzzing() -> bool:
    return os.environ.get("SGBLEND_CONFORMANCE_PROFILE", "ci") == "fuzz"


def distribute(n_tests: int) -> None:
    """Spread :data:`FUZZ_EXAMPLES` over ``n_tests`` Hypothesis tests (fuzz profile only)."""
    global _per_test
    _per_test = math.ceil(FUZZ_EXAMPLES / n_tests) if fuzzing() and n_tests else None


def settings_kwargs(ci_examples: int | None = None) -> dict:
    """Extra ``hypothesis.settings`` for one test: its share of the budget when fuzzing, and
    ``ci_examples`` (fewer than the profile's, for an expensive property) under "ci"."""
    if _per_test is not None:
        return {"max_examples": _per_test}
    if ci_examples is not None and os.environ.get("SGBLEND_CONFORMANCE_PROFILE", "ci") == "ci":
        return {"max_examples": ci_examples}
    return {}


def count(node_id: str) -> None:
    EXECUTED[node_id] += 1


def summary() -> str:
    total = sum(EXECUTED.values())
    share = f", {_per_test} requested per test (budget {FUZZ_EXAMPLES})" if _per_test else ""
    return f"Hypothesis examples executed: {total} in {len(EXECUTED)} tests{share}"
