"""Options, the implementation fixture, parametrisation and the final accuracy table."""

from __future__ import annotations

import os
import pathlib

import pytest
from hypothesis import HealthCheck, settings

from conformance import adapters, budget
from conformance.checks import REPORT
from sgblend_spec import spec

settings.register_profile(
    "ci", max_examples=40, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.register_profile(
    "thorough", max_examples=400, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
# "fuzz": each Hypothesis test gets its share of SGBLEND_FUZZ_EXAMPLES (conformance/budget.py),
# which overrides this max_examples.
settings.register_profile(
    "fuzz", max_examples=100_000, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.load_profile(os.environ.get("SGBLEND_CONFORMANCE_PROFILE", "ci"))


def pytest_addoption(parser):
    group = parser.getgroup("sgblend-spec conformance")
    group.addoption("--backend", choices=sorted(adapters.BACKENDS), help="a built-in backend to test")
    group.addoption("--impl", help="any implementation: 'package.module:attribute' (see adapters/__init__.py)")
    group.addoption("--impl-function", help="with --impl: the attribute is a plain f(x, **params) for this spec function")
    group.addoption("--functions", help="comma-separated spec functions (default: all the implementation provides)")
    group.addoption("--dtypes", help="comma-separated dtypes (default: all the implementation supports)")
    group.addoption("--report-json", help="where to write the accuracy table as JSON")


_IMPLEMENTATION = None


def _implementation(config):
    global _IMPLEMENTATION
    if _IMPLEMENTATION is None:
        backend, impl = config.getoption("--backend"), config.getoption("--impl")
        if bool(backend) == bool(impl):
            raise pytest.UsageError("give exactly one of --backend NAME or --impl package.module:attribute")
        # An import error here propagates and fails the run: never a silent skip.
        _IMPLEMENTATION = adapters.load(adapters.BACKENDS[backend] if backend else impl,
                                        config.getoption("--impl-function"))
        REPORT.implementation, REPORT.version = _IMPLEMENTATION.name, _IMPLEMENTATION.version
        REPORT.flushes_subnormals = tuple(getattr(_IMPLEMENTATION, "flushes_subnormals", ()))
    return _IMPLEMENTATION


def _selected(config, option, available):
    chosen = config.getoption(option)
    if not chosen:
        return list(available)
    names = [n.strip() for n in chosen.split(",") if n.strip()]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise pytest.UsageError(f"{option}: {unknown} not provided by the implementation ({list(available)})")
    return names


def pytest_configure(config):
    config.addinivalue_line("markers", "conformance: a property checked against the oracle")
    config.addinivalue_line("markers", f"{budget.MARKER}: a Hypothesis property that shares the fuzz budget")


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: the budget goes to the tests that run
def pytest_collection_modifyitems(session, config, items):
    budget.distribute(sum(1 for item in items if item.get_closest_marker(budget.MARKER)))


def pytest_generate_tests(metafunc):
    config = metafunc.config
    if "function" in metafunc.fixturenames or "dtype" in metafunc.fixturenames:
        impl = _implementation(config)
        functions = _selected(config, "--functions", [f for f in spec.FUNCTIONS if f in impl.functions])
        dtypes = _selected(config, "--dtypes", [d for d in spec.DTYPES if d in impl.dtypes])
        if "function" in metafunc.fixturenames:
            metafunc.parametrize("function", functions)
        if "dtype" in metafunc.fixturenames:
            metafunc.parametrize("dtype", dtypes)


@pytest.fixture(scope="session")
def impl(request):
    return _implementation(request.config)


def pytest_report_header(config):
    try:
        impl = _implementation(config)
    except pytest.UsageError:
        return None
    return f"sgblend-spec conformance: implementation {impl.name} ({impl.version}); dtypes {list(impl.dtypes)}"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if budget.EXECUTED:
        terminalreporter.write_sep("=", budget.summary())
    if not REPORT.entries:
        return
    terminalreporter.write_sep("=", "sgblend-spec accuracy table")
    terminalreporter.write_line(REPORT.table())
    path = config.getoption("--report-json") or f"conformance-results/{REPORT.implementation}.json"
    REPORT.write(pathlib.Path(path))
    terminalreporter.write_line(f"accuracy table written to {path}")
