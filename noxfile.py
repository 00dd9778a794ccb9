"""Sessions: tests, conformance (one venv per backend), docs, bench.

    nox -s conformance            # the accuracy table for every backend
    nox -s tests                  # unit tests + the conformance suite per backend, and the docs
    nox -s "conformance(backend='torch')"
    nox -s docs                   # build the site into docs/_site and run its browser test
    nox -s bench                  # ratios to each framework's native GELU
    nox -s experiment             # the λ-GELU recipe on scikit-learn's digits (torch, CPU, minutes)
"""

import os
import pathlib

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests"]

#: What each backend's venv installs before the project. torch is pinned to the CPU wheel
#: that lies on this project's machines; any other torch spec downloads a CUDA build.
BACKENDS = {
    "numpy": ([], "test"),
    "torch": (["torch==2.13.0"], "test,torch,keras,examples,huggingface"),  # examples: the digits experiment's smoke test; huggingface: tests/torch/test_models.py
    "tensorflow": ([], "test,tensorflow-cpu"),
    "jax": ([], "test,jax,flax,keras"),
}
#: Backends whose module exists in this checkout (a listed backend that fails to import is
#: a failure of its session, never a skip).
BACKENDS = {
    name: deps for name, deps in BACKENDS.items()
    if name == "numpy" or pathlib.Path(f"backends/{name}/__init__.py").exists()
    or pathlib.Path(f"backends/{name}.py").exists()
}


#: pytest-xdist workers for the test and conformance runs: one per CPU, at most four (each
#: holds a framework in memory). Much of the time goes to single-threaded XLA compiles and to
#: the oracle; on two CPUs the JAX unit tests take 375 s instead of 533, TensorFlow's 112
#: instead of 192, its eager conformance run 292 instead of 367 (measured). Work stealing: the
#: last tests collected are the longest (torch's float64 compensation kernels compile for
#: minutes with an empty cache), and xdist's default scheduling queued them on one worker
#: while the other sat idle.
WORKERS = min(4, len(os.sched_getaffinity(0)))
PARALLEL = ("-n", str(WORKERS), "--dist", "worksteal") if WORKERS > 1 else ()
#: Environment of a backend's unit tests under those workers. torch's: one OpenMP thread per
#: worker. Its tests are Inductor compiles (single-threaded Python codegen: 26.5 min serial
#: with an empty Inductor cache, as on a fresh CI machine) and kernels on OpenMP threads,
#: which oversubscribed the CPUs when every worker started one per CPU (229 s serial, 501 s
#: with two workers, warm cache).
UNIT_TEST_ENV = {"torch": {"OMP_NUM_THREADS": "1"}}


def _install(session, backend, extra=""):
    pins, extras = BACKENDS[backend]
    if pins:
        session.install(*pins)
    session.install("-e", f".[{extras}{extra}]")


#: Adapter modes the suite runs a backend in: report suffix -> environment. TensorFlow's
#: adapter runs eagerly with Python-number parameters, and in tf.function graphs with
#: tensor parameters (a Keras layer's path; Grappler rewrites graphs, see the adapter).
MODES = {"tensorflow": {"": {}, "-graph": {"SGBLEND_TF_ADAPTER": "graph"}}}
#: The fast tier (the framework backends' default) runs in the mode a model trains in: graphs
#: for TensorFlow, JAX's default x64 off. Reports: conformance-results/<backend><suffix>-fast.json.
FAST_MODES = {"tensorflow": {"-graph": MODES["tensorflow"]["-graph"]}, "jax": {"-x64-off": {"SGBLEND_JAX_X64": "0"}}}
#: What ``nox -s tests`` keeps of a thinned run: every grid of edge points and the special-value
#: table, without the random and property tests (``nox -s conformance`` runs everything).
#: Thinned in CI, which keeps .ci/run under an hour on two cores: the fast tier (its float64
#: is the exact tier's evaluation, so it is left to that), float64 of TensorFlow (graph mode,
#: the path of a Keras model) and JAX, and the runs that compile a graph per example:
#: TensorFlow's graph mode (9.5 min for the narrow dtypes' random tests alone) and JAX (about
#: 20 min: its float64 erfc tables make each compile 3-12× jax.nn.gelu's). NumPy and torch
#: run the exact tier in full, TensorFlow's eager mode all of it but :data:`CI_EAGER_HALF`.
CI_SELECTION = ("-k", "test_grid or test_special_values")
CI_THIN_FLOAT64 = {"jax": ("",), "tensorflow": ("-graph",)}  # backend -> modes whose float64 CI runs
CI_THIN_NARROW = {"jax": ("",), "tensorflow": ("-graph",)}  # backend -> modes whose narrow dtypes CI thins
#: TensorFlow's eager mode in CI: everything but the random tests of float16 and bfloat16 (an
#: op-by-op evaluation per example: 4.3 min of its session with them; float32's stay)
CI_EAGER_HALF = ("-k", "not (test_random and (float16 or bfloat16))")
NARROW_DTYPES = "--dtypes=float16,bfloat16,float32"


def _conformance(session, backend, *args, modes=None, precision="exact", suffix_extra=""):
    suffix_tier = "" if precision == "exact" else f"-{precision}"
    for suffix, env in (modes or MODES.get(backend, {"": {}})).items():
        session.run(
            "sgblend-conformance", f"--backend={backend}", f"--precision={precision}", *PARALLEL,
            f"--report-json=conformance-results/{backend}{suffix}{suffix_extra}{suffix_tier}.json", *args, env=env,
        )


def _both_tiers(session, backend, *args, thin=False):
    if thin and backend in CI_THIN_FLOAT64:
        for suffix, env in MODES.get(backend, {"": {}}).items():
            narrow = CI_SELECTION if suffix in CI_THIN_NARROW[backend] else CI_EAGER_HALF
            _conformance(session, backend, NARROW_DTYPES, *narrow, *args, modes={suffix: env})
            if suffix in CI_THIN_FLOAT64[backend]:
                _conformance(session, backend, "--dtypes=float64", *CI_SELECTION, *args, modes={suffix: env},
                             suffix_extra="-float64")
    else:
        _conformance(session, backend, *args)
    _conformance(session, backend, *((NARROW_DTYPES, *CI_SELECTION) if thin else ()), *args,
                 modes=FAST_MODES.get(backend), precision="fast")


@nox.session
@nox.parametrize("backend", list(BACKENDS))
def conformance(session, backend):
    """The conformance suite against one backend; prints and writes the accuracy table."""
    _install(session, backend)
    _both_tiers(session, backend, *session.posargs)


#: The export/distributed paths and the cross-framework run need every backend in one venv
#: (one session: each venv with all three frameworks costs CI a minute to install).
DEPLOY = ["deploy"] if {"torch", "tensorflow", "jax"} <= set(BACKENDS) else []


@nox.session
@nox.parametrize("backend", [*BACKENDS, "docs", *DEPLOY])
def tests(session, backend):
    """Per backend: its unit tests, its docs example, its conformance run. "docs": the site.
    "deploy": the export and distributed paths of every framework (tests/deploy), and one
    model trained in torch, TensorFlow and JAX giving the same numbers (tests/equivalence)."""
    if backend == "docs":
        session.install("-e", ".[test,docs]")
        session.run("pytest", "tests/docs", "-q", *PARALLEL, *session.posargs)
        return
    if backend == "deploy":  # ONNX Runtime, TorchScript, AOTInductor, TFLite, jax.export, DDP/FSDP, sharding
        session.install(*BACKENDS["torch"][0])
        session.install("-e", ".[test,torch,tensorflow-cpu,jax,deploy,examples]")
        session.run("pytest", "tests/deploy", "-q", *PARALLEL, *session.posargs)
        session.run("pytest", "tests/equivalence", "-q", "-s", *session.posargs)
        return
    _install(session, backend)
    if backend == "numpy":
        session.run("pytest", "tests/core", "-q", *PARALLEL, *session.posargs)
    else:
        env = UNIT_TEST_ENV.get(backend, {})
        # tests/contract: the contract tests shared by every backend, run against this one.
        session.run("pytest", f"tests/{backend}", "tests/contract", "tests/docs/test_examples.py", "-q", *PARALLEL,
                    *session.posargs, env={**env, "SGBLEND_TEST_BACKEND": backend})
        # The Keras 3 layers on this framework as Keras backend (KERAS_BACKEND is fixed at import).
        session.run("pytest", "tests/keras", "-q", *PARALLEL, *session.posargs, env={**env, "KERAS_BACKEND": backend})
    _both_tiers(session, backend, thin=True)


@nox.session
def docs(session):
    """Build the formula reference into docs/_site (reads conformance-results/*.json if present)."""
    session.install("-e", ".[test,docs]")
    session.run("python", "docs/build.py", *session.posargs)


@nox.session
@nox.parametrize("backend", [b for b in BACKENDS if b != "numpy"])
def bench(session, backend):
    """Every spec function's fwd and fwd+bwd time (1M and 16M float32 elements) as a ratio to the
    framework's native exact GELU in the same run, bytes saved for backward, and a training step
    of an encoder block per activation (end to end); prints the table and writes
    benchmarks/results/BACKEND.json, which `nox -s docs` publishes."""
    _install(session, backend)
    session.run("python", f"benchmarks/bench_{backend}.py", *session.posargs)
    if backend == "torch":  # bfloat16 too (results/torch-bfloat16.json; the end-to-end model is float32)
        session.run("python", "benchmarks/bench_torch.py", "--dtype", "bfloat16", "--no-end-to-end", *session.posargs)
    if backend == "jax":  # JAX's default config above (x64 off), float64 evaluation too (results/jax-x64.json)
        session.run("python", "benchmarks/bench_jax.py", "--x64", *session.posargs)


@nox.session
def experiment(session):
    """MLPs on scikit-learn's digits with GELU, SiLU, SSwish, SG-Blend and λ-GELU (plain and
    hardened): accuracy, dead units, time per epoch, learned parameters and the accuracy drop
    after ReLU substitution, into experiments/results/digits.{md,json,png} (git-ignored)."""
    _install(session, "torch", ",docs")
    session.run("python", "experiments/digits.py", *session.posargs)


@nox.session
@nox.parametrize("backend", list(BACKENDS))
def fuzz(session, backend):
    """The Hypothesis conformance properties (test_random: accuracy against the oracle;
    test_random_elementwise: position, neighbours and special values) with a budget of
    SGBLEND_FUZZ_EXAMPLES examples in total (default 100 000) spread over them; ends with the
    number of examples executed. Not run in CI, which runs 40 per test. TensorFlow is fuzzed
    through tf.function graphs with tensor parameters (the adapter's graph mode, the path of
    a Keras layer in model.fit): its eager mode needs ~4.5 h for 100 000 examples here."""
    _install(session, backend)
    session.env["SGBLEND_CONFORMANCE_PROFILE"] = "fuzz"
    modes = {"-graph": MODES["tensorflow"]["-graph"]} if backend == "tensorflow" else None
    _conformance(session, backend, "-k", "test_random", *session.posargs, modes=modes)


@nox.session
@nox.parametrize("backend", [b for b in BACKENDS if b != "numpy"])
def native(session, backend):
    """The framework's own GELU/SiLU through the same suite, for the docs' comparison table.

    They are not expected to meet the bounds: the session records by how much they miss."""
    _install(session, backend)
    cls = {"torch": "TorchNative", "tensorflow": "TensorFlowNative", "jax": "JaxNative"}[backend]
    session.run(
        "sgblend-conformance", f"--impl=sgblend_spec.conformance.adapters.native:{cls}", "-k", "test_grid",
        f"--report-json=conformance-results/{backend}-native.json", *session.posargs, success_codes=[0, 1],
    )
