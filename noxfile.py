"""Sessions: tests, conformance (one venv per backend), docs, bench.

    nox -s conformance            # the accuracy table for every backend
    nox -s tests                  # unit tests + the conformance suite, per backend
    nox -s "conformance(backend='torch')"
"""

import pathlib

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True

#: What each backend's venv installs before the project. torch is pinned to the CPU wheel
#: that lies on this project's machines; any other torch spec downloads a CUDA build.
BACKENDS = {
    "numpy": ([], "test"),
    "torch": (["torch==2.13.0"], "test,torch"),
    "tensorflow": ([], "test,tensorflow-cpu"),
    "jax": ([], "test,jax,flax"),
}


#: Backends whose module exists in this checkout (a listed backend that fails to import is
#: a failure of its session, never a skip).
BACKENDS = {
    name: deps for name, deps in BACKENDS.items()
    if name == "numpy" or pathlib.Path(f"backends/{name}.py").exists()
}


def _install(session, backend):
    pins, extras = BACKENDS[backend]
    if pins:
        session.install(*pins)
    session.install("-e", f".[{extras}]")


@nox.session
@nox.parametrize("backend", list(BACKENDS))
def conformance(session, backend):
    """The conformance suite against one backend; prints and writes the accuracy table."""
    _install(session, backend)
    session.run(
        "pytest", "conformance", f"--backend={backend}",
        f"--report-json=conformance-results/{backend}.json", "-q", *session.posargs,
    )


@nox.session
@nox.parametrize("backend", list(BACKENDS))
def tests(session, backend):
    """Unit tests of one backend (the core for numpy), then its conformance run."""
    _install(session, backend)
    unit = "tests/core" if backend == "numpy" else f"tests/{backend}"
    session.run("pytest", unit, "-q", *session.posargs)
    session.run(
        "pytest", "conformance", f"--backend={backend}",
        f"--report-json=conformance-results/{backend}.json", "-q",
    )
