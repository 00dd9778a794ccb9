"""The flat CPU kernels built ahead of time: compiled once by AOTInductor into a shared library
in an on-disk cache, and loaded from it in every later process.

A process that finds its kernel in the cache loads it with ``dlopen`` (about a millisecond) and
runs it: no dynamo trace, no Inductor import, no code generation, so a module's first call costs
what its arithmetic costs. A kernel that is not there yet is built once, on first use, from the
same Python kernel torch.compile would compile (:func:`kernels.specialised`), with the same
Inductor settings (:func:`kernels.ieee_options`), and gives the same bits (tested). The library
takes its rows or elements as a dynamic length: one library serves every shape and rank.

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

import contextlib
import functools
import getpass
import hashlib
import os
import pathlib
import platform
import tempfile
import threading
import warnings
import zipfile

import torch

import sgblend_spec
from sgblend_spec.backends.torch import kernels

#: The modules whose source a kernel's code is built from (besides torch).
SOURCE_DIRECTORIES = (pathlib.Path(sgblend_spec.__file__).parent, pathlib.Path(__file__).parent)
#: The kernels loaded in this process, and the libraries that failed to build or load, by file name.
LOADED: dict[str, object] = {}
FAILED: set[str] = set()
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
                     platform.machine(), repr(sorted(kernels.IEEE_OPTIONS.items()))):
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
    kernel), loaded from the cache or built into it; None where it cannot be (the caller then
    compiles with torch.compile)."""
    tensors = pack(kind, args)
    file = key(kind, name, precision, args[0] if kind == "grad" else None, tuple(t.dtype for t in tensors))
    run = LOADED.get(file)
    if run is None and file not in FAILED:
        with _LOCK:
            run = LOADED.get(file) or _load_or_build(file, kind, name, precision, args)
    return run


def _load_or_build(file: str, kind: str, name: str, precision: str, args: tuple):
    """Load the library, building it first where the cache lacks it (one process builds, the
    others wait for it: :func:`_exclusive`); a library that does not load is built again once."""
    path = cache_dir() / file
    try:
        for attempt in range(2):
            with _exclusive(path):
                if not path.exists():
                    build(path, kind, name, precision, args)
                try:
                    runner = torch._C._aoti.AOTIModelContainerRunnerCpu(str(path), 1)
                    LOADED[file] = run = _calling(kind, runner)
                    return run
                except RuntimeError:  # a damaged file (a full disk, a crash while copying): rebuild it
                    if attempt:
                        raise
                    path.unlink()
    except Exception as exc:  # no compiler, no AOTInductor in this torch, an unwritable cache, ...
        FAILED.add(file)
        warnings.warn(f"sgblend_spec.backends.torch: the prebuilt {kind} kernel of {name} is unavailable "
                      f"({type(exc).__name__}: {exc}); compiling it with torch.compile in this process",
                      RuntimeWarning, stacklevel=5)
        return None


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


def build(path: pathlib.Path, kind: str, name: str, precision: str, args: tuple) -> None:
    """Export the kernel with a dynamic length (elements of x, or rows), compile it with
    AOTInductor and place its one shared library at ``path``."""
    needs = args[0] if kind == "grad" else None
    impl = kernels.specialised(kind, name, precision)

    class Kernel(torch.nn.Module):
        def forward(self, *tensors):
            return impl(*unpack(kind, needs, tensors))

    tensors = tuple(t.detach() for t in pack(kind, args))
    length = torch.export.Dim("length", min=2)
    dynamic = tuple({0: length} if t.dim() else None for t in tensors)
    with torch.no_grad():
        exported = torch.export.export(Kernel(), tensors, dynamic_shapes=(dynamic,))  # forward(*tensors)
    from torch._inductor import aoti_compile_and_package

    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        package = aoti_compile_and_package(
            exported, package_path=os.path.join(scratch, "kernel.pt2"),
            inductor_configs={**kernels.ieee_options(), **WRAPPER_OPTIONS})
        with zipfile.ZipFile(package) as archive:
            (library,) = [n for n in archive.namelist() if n.endswith(".so")]
            staged = os.path.join(scratch, path.name)
            with archive.open(library) as source, open(staged, "wb") as target:
                target.write(source.read())
        os.replace(staged, path)
