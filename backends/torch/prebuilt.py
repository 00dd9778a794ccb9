"""The flat CPU kernels built ahead of time: compiled once by AOTInductor into a shared library
in an on-disk cache, and loaded from it in every later process.

A process that finds its kernel in the cache loads it with ``dlopen`` (about a millisecond) and
runs it: no dynamo trace, no Inductor import, no code generation, so a module's first call costs
what its arithmetic costs. A kernel that is not there yet is built once, on first use, from the
same Python kernel torch.compile would compile (:func:`kernels.specialised`), with the same
Inductor settings (:func:`kernels.inductor_options`), and gives the same bits (tested). The library
takes its rows or elements as a dynamic length: one library serves every shape and rank.

Where a CPU is free beside torch's intra-op threads, the build (tens of seconds) runs in a child
process at the lowest priority, and until its library is ready the calls evaluate eagerly (the
kernels' own formulas, op by op, within the same tier's bounds), so no call waits for a compiler
(``BUILD_IN_BACKGROUND``, a setting of the package: :func:`background`). The call builds it
instead where torch's threads take every CPU, where the setting is off, where
``torch.use_deterministic_algorithms`` is on (the eager and the compiled kernels round a few
elements differently) or where no child process can be started.
``python -m sgblend_spec.backends.torch.prebuilt`` builds the libraries ahead of time (a container
image's build step; :func:`main`), and :func:`wait` waits for this process's builds.

One library per (kernel kind, spec function, precision tier, needed gradients, input dtypes).
Its file name holds a digest of everything its code depends on (:func:`digest`): torch's version,
this package's version and the source of the modules the formulas run through, the CPU's vector
ISA (``torch.backends.cpu.get_cpu_capability``), the machine and the Inductor settings. A change
to any of them builds a new library instead of loading a stale one; files are written under a
temporary name and renamed into place, so concurrent processes (DDP ranks) never read half a file.

The cache is ``$SGBLEND_TORCH_KERNEL_CACHE``, else ``sgblend_spec/`` in Inductor's cache
directory (``$TORCHINDUCTOR_CACHE_DIR``, else ``torchinductor_<user>`` in the temporary
directory): it lives and is cleared with Inductor's own. ``sgblend_spec.backends.torch.PREBUILT
= False`` (env ``SGBLEND_TORCH_PREBUILT=0``) compiles with torch.compile in each process instead.
A kernel that fails to build or load falls back to torch.compile, once per process, with a warning.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import getpass
import hashlib
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import threading
import warnings
import zipfile

import torch

import sgblend_spec
import sgblend_spec.backends.torch as package
from sgblend_spec.backends.torch import kernels
from sgblend_spec.backends.torch.numerics import SUM_BLOCK

#: The modules whose source a kernel's code is built from (besides torch).
SOURCE_DIRECTORIES = (pathlib.Path(sgblend_spec.__file__).parent, pathlib.Path(__file__).parent)
#: The kernels loaded in this process, the libraries that failed to build or load, those found
#: damaged and built again, and the child processes building libraries now, by file name.
LOADED: dict[str, object] = {}
FAILED: set[str] = set()
DAMAGED: set[str] = set()
BUILDING: dict[str, subprocess.Popen] = {}
#: :func:`kernel`'s answer while the library is being built in a child process: evaluate eagerly.
PENDING = "pending"
#: The length of a build's example inputs (x's elements; the gradient kernel's rows hold as many):
#: Inductor's hint for the dynamic length, from which it chooses the parallel loops of a large input.
EXAMPLE_NUMEL = 1 << 20
_LOCK = threading.Lock()
_DIGEST: list[str] = []


#: AOTInductor settings for the wrapper around the kernel (glue code, not arithmetic: -O0 saves
#: build time; the kernel's own code is built as torch.compile builds it).
WRAPPER_OPTIONS = {"aot_inductor.compile_wrapper_opt_level": "O0"}


def cache_dir() -> pathlib.Path:
    """Where the libraries are kept (see the module docstring)."""
    explicit = os.environ.get("SGBLEND_TORCH_KERNEL_CACHE")
    if explicit:
        return pathlib.Path(explicit)
    inductor = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if inductor:
        return pathlib.Path(inductor) / "sgblend_spec"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return pathlib.Path(tempfile.gettempdir()) / f"torchinductor_{user}" / "sgblend_spec"


def digest() -> str:
    """A digest of what every library's code depends on (computed once per process)."""
    if not _DIGEST:
        h = hashlib.sha256()
        for part in (torch.__version__, sgblend_spec.__version__, torch.backends.cpu.get_cpu_capability(),
                     platform.machine(), repr(sorted(kernels.KERNEL_OPTIONS.items()))):
            h.update(part.encode() + b"\0")
        for directory in SOURCE_DIRECTORIES:
            for source in sorted(directory.glob("*.py")):
                h.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
        _DIGEST.append(h.hexdigest())
    return _DIGEST[0]


def pack(kind: str, args: tuple) -> list[torch.Tensor]:
    """A kernel's arguments (see :func:`kernels.value`, :func:`kernels.grads`) as the library's
    flat list of tensors: the sized tensors first, then the 0-d parameters."""
    if kind == "value":
        x, params = args
        return [x, *params]
    _, grad_out, x, params, ones, out = args
    return [grad_out, x, ones, *(() if out is None else (out,)), *params]


def unpack(kind: str, needs: tuple[bool, ...] | None, tensors: tuple[torch.Tensor, ...]) -> tuple:
    """:func:`pack`'s inverse (``needs`` is the gradient kernel's, fixed per library)."""
    if kind == "value":
        return tensors[0], tuple(tensors[1:])
    sized = 4 if needs[0] else 3
    grad_out, x, ones, *out = tensors[:sized]
    return needs, grad_out, x, tuple(tensors[sized:]), ones, out[0] if out else None


@functools.lru_cache(maxsize=None)
def key(kind: str, name: str, precision: str, needs: tuple[bool, ...] | None, dtypes: tuple[torch.dtype, ...]) -> str:
    """The file name of the library for a kernel, its needed gradients and its inputs' dtypes."""
    described = ",".join(str(dtype).removeprefix("torch.") for dtype in dtypes)
    h = hashlib.sha256(f"{digest()}|{kind}|{name}|{precision}|{needs}|{described}".encode()).hexdigest()[:32]
    return f"{kind}_{name}_{precision}_{h}.so"


def kernel(kind: str, name: str, precision: str, args: tuple):
    """The library's kernel for this call (a function of the same arguments as the compiled
    kernel), loaded from the cache or built into it; :data:`PENDING` while a child process builds
    it; None where it cannot be built (the caller then compiles with torch.compile)."""
    tensors = pack(kind, args)
    needs = args[0] if kind == "grad" else None
    dtypes = tuple(t.dtype for t in tensors)
    file = key(kind, name, precision, needs, dtypes)
    run = LOADED.get(file)
    if run is None and file not in FAILED:
        with _LOCK:
            run = LOADED.get(file) or _load_or_build(file, (kind, name, precision, needs, dtypes))
    return run


def background() -> bool:
    """Whether a missing library is built in a child process while calls evaluate eagerly (see
    the module docstring), or in the call: ``BUILD_IN_BACKGROUND``, whose "auto" asks for a CPU
    beside torch's intra-op threads. On two CPUs both busy with torch's threads, a build beside
    them slowed a TransformerEncoderLayer training step 7x (its threads wait for each other at
    every op while a build holds a CPU), for longer than the build takes in the call; with one
    CPU spare, 1.2x."""
    setting = package.BUILD_IN_BACKGROUND
    if not setting or torch.are_deterministic_algorithms_enabled():
        return False
    if setting == "auto":
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return cpus > torch.get_num_threads()
    return True


def _load_or_build(file: str, signature: tuple):
    """Load the library, building it first where the cache lacks it: in a child process
    (:data:`PENDING` until it is done), or here (one process builds, the others wait for it:
    :func:`_exclusive`). A library that does not load (damaged) is built again, once."""
    path = cache_dir() / file
    try:
        while True:
            if _pending(file, path, signature):
                return PENDING
            with _exclusive(path):
                if not path.exists():
                    build(path, *signature)
                try:
                    runner = torch._C._aoti.AOTIModelContainerRunnerCpu(str(path), 1)
                    LOADED[file] = run = _calling(signature[0], runner)
                    return run
                except RuntimeError:  # a damaged file (a full disk, a crash while copying): rebuild it
                    if file in DAMAGED:
                        raise
                    DAMAGED.add(file)
                    path.unlink()
    except Exception as exc:  # no compiler, no AOTInductor in this torch, an unwritable cache, ...
        FAILED.add(file)
        kind, name = signature[:2]
        warnings.warn(f"sgblend_spec.backends.torch: the prebuilt {kind} kernel of {name} is unavailable "
                      f"({type(exc).__name__}: {exc}); compiling it with torch.compile in this process",
                      RuntimeWarning, stacklevel=5)
        return None


def _pending(file: str, path: pathlib.Path, signature: tuple) -> bool:
    """Whether a child process is still building the library: one is started where the cache
    lacks it and :func:`background` allows (else, or where no process can start, the caller
    builds it); a finished child's failure raises, with the end of its output."""
    builder = BUILDING.get(file)
    if builder is None:
        if path.exists() or not background():
            return False
        builder = _start_build(path, signature)
        if builder is None:
            return False
        BUILDING[file] = builder
    if builder.poll() is None:
        if background():
            return True
        builder.wait()
    del BUILDING[file]
    if builder.returncode:  # its output is kept in the log (a child that succeeds deletes it)
        log = path.with_suffix(".log")
        tail = log.read_text(errors="replace")[-2000:].strip() if log.exists() else ""
        raise RuntimeError(f"its build process exited with status {builder.returncode}: {tail}")
    return False


#: A child process's program: lower its priority before it imports torch (startup included, its
#: CPU time is the caller's leftovers: Linux SCHED_IDLE, elsewhere nice 19), then build.
CHILD_PROGRAM = """
import os, sys
try:
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
except (AttributeError, OSError):
    try:
        os.nice(19)
    except (AttributeError, OSError):
        pass
from sgblend_spec.backends.torch import prebuilt
prebuilt.main(["--kernel", sys.argv[1]])
"""


def _child_command(request: str) -> list[str]:
    """The command line of a child process that builds one library (:data:`CHILD_PROGRAM`)."""
    return [sys.executable, "-c", CHILD_PROGRAM, request]


def _start_build(path: pathlib.Path, signature: tuple) -> subprocess.Popen | None:
    """Start a child process (in its own session, at low priority: :data:`CHILD_PROGRAM`) that
    builds the library at ``path``, its output in ``path``'s ``.log``; None where none can start."""
    kind, name, precision, needs, dtypes = signature
    request = json.dumps({"path": str(path), "kind": kind, "name": name, "precision": precision, "needs": needs,
                          "dtypes": [str(dtype).removeprefix("torch.") for dtype in dtypes]})
    # The child imports this package from where this process did, and compiles in one process
    # (no pool of compile workers beside the caller's work).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), "TORCHINDUCTOR_COMPILE_THREADS": "1"}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".log"), "w") as log:
            return subprocess.Popen(_child_command(request), stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env=env, start_new_session=True)
    except (OSError, ValueError):  # no executable, no process creation, an unwritable cache
        return None


def wait() -> None:
    """Wait for this process's background builds; the next call of each kernel loads its library."""
    for builder in list(BUILDING.values()):
        builder.wait()


def _calling(kind: str, runner):
    """The kernel's function of the compiled kernel's arguments, running the library."""
    if kind == "value":
        return lambda *args: runner.run(pack(kind, args))[0]
    return lambda *args: tuple(runner.run(pack(kind, args)))


@contextlib.contextmanager
def _exclusive(path: pathlib.Path):
    """Hold an exclusive lock on ``path``'s lock file (POSIX; elsewhere no lock: concurrent builds
    then each build, and the atomic rename keeps the file whole)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def examples(kind: str, needs: tuple[bool, ...] | None, dtypes: tuple[torch.dtype, ...]) -> tuple[torch.Tensor, ...]:
    """Example inputs of a library (:func:`pack`'s order): the sized ones of
    :data:`EXAMPLE_NUMEL` elements (x flat; or grad_out, x, the row ones and the x-gradient in
    rows of SUM_BLOCK), then the 0-d parameters."""
    count = EXAMPLE_NUMEL // SUM_BLOCK
    shapes = ([(EXAMPLE_NUMEL,)] if kind == "value"
              else [(count, SUM_BLOCK), (count, SUM_BLOCK), (count,), (count, SUM_BLOCK)][:4 if needs[0] else 3])
    shapes += [()] * (len(dtypes) - len(shapes))
    return tuple(torch.zeros(shape, dtype=dtype) for shape, dtype in zip(shapes, dtypes, strict=True))


def build(path: pathlib.Path, kind: str, name: str, precision: str, needs: tuple[bool, ...] | None,
          dtypes: tuple[torch.dtype, ...]) -> None:
    """Export the kernel with a dynamic length (elements of x, or rows), compile it with
    AOTInductor and place its one shared library at ``path``."""
    impl = kernels.specialised(kind, name, precision)

    class Kernel(torch.nn.Module):
        def forward(self, *tensors):
            return impl(*unpack(kind, needs, tensors))

    tensors = examples(kind, needs, dtypes)
    length = torch.export.Dim("length", min=2)
    dynamic = tuple({0: length} if t.dim() else None for t in tensors)
    from torch._inductor import aoti_compile_and_package

    # torch's own deprecation notices from inside export and AOTInductor are not the caller's.
    with torch.no_grad(), warnings.catch_warnings(), tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        warnings.simplefilter("ignore", FutureWarning)
        exported = torch.export.export(Kernel(), tensors, dynamic_shapes=(dynamic,))  # forward(*tensors)
        package_path = aoti_compile_and_package(
            exported, package_path=os.path.join(scratch, "kernel.pt2"),
            inductor_configs={**kernels.inductor_options(), **WRAPPER_OPTIONS})
        with zipfile.ZipFile(package_path) as archive:
            (library,) = [n for n in archive.namelist() if n.endswith(".so")]
            staged = os.path.join(scratch, path.name)
            with archive.open(library) as source, open(staged, "wb") as target:
                target.write(source.read())
        os.replace(staged, path)


def module_for(name: str, precision: str) -> torch.nn.Module:
    """The module that evaluates spec function ``name`` (its defaults; scalar parameters)."""
    from sgblend_spec import layers

    from .layers import GELU, LambdaGELU, SGBlend, SSwish, Swish

    gelu_forms = {function: form for form, function in layers.GELU_FORMS.items()}
    partners = {function: partner for partner, function in layers.SGBLEND_VARIANTS.items()}
    if name in gelu_forms:
        return GELU(gelu_forms[name], precision=precision)
    if name in partners:
        return SGBlend(gelu=partners[name], precision=precision)
    return {"swish": Swish, "sswish": SSwish, "lambda_gelu": LambdaGELU}[name](precision=precision)


def _build_requested(request: str) -> None:
    """Build one library in this (child) process, unless another process has."""
    spec = json.loads(request)
    path = pathlib.Path(spec["path"])
    needs = None if spec["needs"] is None else tuple(spec["needs"])
    dtypes = tuple(getattr(torch, dtype) for dtype in spec["dtypes"])
    with _exclusive(path):
        if not path.exists():
            build(path, spec["kind"], spec["name"], spec["precision"], needs, dtypes)
    path.with_suffix(".log").unlink(missing_ok=True)  # its output, kept where it fails


def main(argv: list[str] | None = None) -> None:
    """Build the libraries of modules' fwd+bwd ahead of time: for each function, tier and dtype,
    a module with scalar parameters (float32, and also in that dtype: a model cast with ``.to``)
    evaluated with every gradient, which builds its value and gradient libraries into the cache.
    Other signatures (frozen parameters, ...) build on first use."""
    from sgblend_spec import spec

    parser = argparse.ArgumentParser(prog="python -m sgblend_spec.backends.torch.prebuilt", description=main.__doc__)
    parser.add_argument("functions", nargs="*", metavar="FUNCTION",
                        help=f"spec functions (default: all of {', '.join(spec.FUNCTIONS)})")
    parser.add_argument("--precision", nargs="+", choices=spec.PRECISIONS, default=["fast"],
                        help="precision tiers (default: fast)")
    parser.add_argument("--dtype", nargs="+", choices=["float32", "bfloat16", "float16", "float64"],
                        default=["float32"], help="x's dtypes (default: float32)")
    parser.add_argument("--kernel", help=argparse.SUPPRESS)  # a child process's one library (_start_build)
    args = parser.parse_args(argv)
    if args.kernel:
        _build_requested(args.kernel)
        return
    unknown = [name for name in args.functions if name not in spec.FUNCTIONS]
    if unknown:
        parser.error(f"FUNCTION must be one of {', '.join(spec.FUNCTIONS)}; got {', '.join(unknown)}")
    settings = ("COMPILE", "PREBUILT", "BUILD_IN_BACKGROUND")
    saved = [getattr(package, setting) for setting in settings]
    package.COMPILE, package.PREBUILT, package.BUILD_IN_BACKGROUND = True, True, False
    numel = max(package.COMPILE_MIN_NUMEL, 2 * SUM_BLOCK)
    before = set(cache_dir().glob("*.so"))
    try:
        for name in args.functions or spec.FUNCTIONS:
            for precision in args.precision:
                for dtype in (getattr(torch, d) for d in args.dtype):
                    for parameters in dict.fromkeys((torch.float32, dtype)):
                        module = module_for(name, precision).to(parameters)
                        x = torch.linspace(-8, 8, numel, dtype=dtype, requires_grad=True)
                        module(x).sum().backward()
                        print(f"{name} precision={precision}: x {str(dtype)[6:]}, parameters {str(parameters)[6:]}",
                              flush=True)
    finally:
        for setting, value in zip(settings, saved):
            setattr(package, setting, value)
    if FAILED:
        raise SystemExit(f"could not build: {', '.join(sorted(FAILED))}")
    print(f"{len(set(cache_dir().glob('*.so')) - before)} libraries built in {cache_dir()}")


if __name__ == "__main__":
    main()
