"""Options, the implementation fixture, parametrisation and the final accuracy table."""

from __future__ import annotations

import json
import os
import pathlib

import pytest
from hypothesis import HealthCheck, Phase, settings

from sgblend_spec import spec

from . import adapters, budget
from .checks import PRECISIONS, REPORT, ulp_bound
from .samples import SAMPLES, report_json

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
    group.addoption("--impl-framework", default="numpy", choices=("numpy", "torch", "jax", "tensorflow"),
                    help="with --impl-function: the framework of f (default numpy), wrapped by adapt.<framework>")
    group.addoption("--functions", help="comma-separated spec functions (default: all the implementation provides)")
    group.addoption("--dtypes", help="comma-separated dtypes (default: all the implementation supports)")
    group.addoption("--precision", default="exact", choices=PRECISIONS,
                    help="the precision tier whose ULP bounds apply (default exact)")
    group.addoption("--flushes-subnormals", default="",
                    help="comma-separated dtypes the implementation flushes subnormals to zero in (declared, "
                         "in addition to its own flushes_subnormals): held to the flush-to-zero bound, raw figures beside")
    group.addoption("--shrink", action="store_true",
                    help="let Hypothesis shrink a failing example (minutes per failure); by default the first "
                         "failing example is the repro")
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
                                        config.getoption("--impl-function"), config.getoption("--impl-framework"))
        declared = [d.strip() for d in config.getoption("--flushes-subnormals").split(",") if d.strip()]
        if declared:
            unknown = [d for d in declared if d not in spec.DTYPES]
            if unknown:
                raise pytest.UsageError(f"--flushes-subnormals: {unknown} are not dtypes ({list(spec.DTYPES)})")
            own = tuple(getattr(_IMPLEMENTATION, "flushes_subnormals", ()))
            _IMPLEMENTATION.flushes_subnormals = own + tuple(d for d in declared if d not in own)
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
    config.addinivalue_line("markers", f"{INPUT_CONTRACT}: a rule of spec.INPUT_CONTRACT (errors for bad input)")
    REPORT.precision = config.getoption("--precision")
    SAMPLES.enabled = True  # per-x errors for the docs' plots (conformance/samples.py)
    try:
        ulp_bound("value", "float32", REPORT.precision)
    except ValueError as error:
        raise pytest.UsageError(f"--precision: {error}") from None
    if not config.getoption("--shrink"):
        # Shrinking one failure can take Hypothesis minutes; the first failing example,
        # printed with its repro, is what a porter needs.
        current = settings()
        settings.register_profile("_no_shrink", current, phases=[Phase.explicit, Phase.reuse, Phase.generate])
        settings.load_profile("_no_shrink")


#: Tests carrying this marker check the input contract, reported apart from accuracy.
INPUT_CONTRACT = "input_contract"
#: The accuracy tests: their results are the table's entries.
ACCURACY = ("test_grid", "test_random")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" and not report.failed or report.skipped:
        return
    name = getattr(item, "originalname", item.name)
    if name in ACCURACY:
        return
    why = ""
    if report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        why = (crash.message if crash is not None else str(report.longrepr)).strip().splitlines()[0][:300]
    section = REPORT.contract if item.get_closest_marker(INPUT_CONTRACT) else REPORT.properties
    test = item.name[len(name):].strip("[]") or item.name
    section[(name.removeprefix("test_"), test)] = why


def pytest_runtest_setup(item):
    # Hypothesis points are thinned per bin of x; fixed points (grids, special values) are all kept.
    SAMPLES.source = "random" if getattr(item, "originalname", item.name) == "test_random" else "grid"


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


#: The key of a pytest-xdist worker's results in its ``workeroutput``.
WORKER_OUTPUT = "sgblend_conformance"


def pytest_sessionfinish(session):
    """Under pytest-xdist (``-n 2``) each worker hands what it recorded to the controller,
    which merges it (:func:`pytest_testnodedown`) and writes the one table."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[WORKER_OUTPUT] = json.dumps(
            {"report": REPORT.state(), "samples": SAMPLES.state(), "executed": dict(budget.EXECUTED)})


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: only called when it is installed
def pytest_testnodedown(node, error):
    output = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT)
    if output:
        state = json.loads(output)
        REPORT.merge(state["report"])
        SAMPLES.merge(state["samples"])
        budget.EXECUTED.update(state["executed"])


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if budget.EXECUTED:
        terminalreporter.write_sep("=", budget.summary())
    if not REPORT.entries and not REPORT.contract:
        return
    terminalreporter.write_sep("=", "sgblend-spec accuracy table")
    terminalreporter.write_line(REPORT.table())
    path = config.getoption("--report-json") or f"conformance-results/{REPORT.implementation}.json"
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report_json(REPORT.to_json(), SAMPLES.series()))
    terminalreporter.write_line(f"accuracy table written to {path}")
