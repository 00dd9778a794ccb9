"""The prebuilt CPU kernels (backends/torch/prebuilt.py): built once by AOTInductor into the
cache, in a child process while the calls evaluate eagerly (or in the call), the same bits as
torch.compile's kernels, loaded by a new process without dynamo or Inductor, rebuilt when
damaged, and replaced by torch.compile where they cannot be built."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch

from sgblend_spec.backends import torch as B
from sgblend_spec.backends.torch import kernels, prebuilt
from sgblend_spec.backends.torch.numerics import SUM_BLOCK

#: Enough elements for the compiled kernels, with a partial last row of SUM_BLOCK.
NUMEL = (1 << 16) + 3 * SUM_BLOCK + 77


@pytest.fixture
def kernel_cache(tmp_path, monkeypatch):
    """Compiling on, prebuilt on (built in the call), an empty cache of libraries and no kernel
    loaded yet."""
    monkeypatch.setenv("SGBLEND_TORCH_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setattr(B, "COMPILE", True)
    monkeypatch.setattr(B, "PREBUILT", True)
    monkeypatch.setattr(B, "BUILD_IN_BACKGROUND", False)
    for state in ("LOADED", "BUILDING"):
        monkeypatch.setattr(prebuilt, state, {})
    for state in ("FAILED", "DAMAGED"):
        monkeypatch.setattr(prebuilt, state, set())
    monkeypatch.setattr(kernels, "COMPILED", {})
    monkeypatch.setattr(kernels, "COMPILE_FAILED", set())
    return tmp_path


def inputs(dtype: torch.dtype) -> torch.Tensor:
    """Random values over the working range, with the special values in the tail row."""
    x = torch.randn(NUMEL, generator=torch.Generator().manual_seed(7), dtype=torch.float64) * 12
    x[-6:] = torch.tensor([0.0, -0.0, float("inf"), -float("inf"), float("nan"), -3e-39], dtype=torch.float64)
    return x.to(dtype)


def evaluate(module: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Value, x-gradient and each parameter's gradient, under a random upstream gradient."""
    x = x.detach().clone().requires_grad_()
    y = module(x)
    dy = torch.randn(y.shape, generator=torch.Generator().manual_seed(3)).to(y.dtype)
    params = [p for p in module.parameters() if p.requires_grad]
    return [y.detach(), *torch.autograd.grad(y, [x, *params], dy)]


@contextlib.contextmanager
def no_warnings():
    """Every RuntimeWarning inside (a kernel falling back) is an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


def bits(t: torch.Tensor) -> torch.Tensor:
    return t.view({2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])


@pytest.mark.parametrize("case", ["sgblend fast float32, every gradient", "gelu exact bfloat16, x only"])
def test_prebuilt_kernels_give_torch_compiles_bits(case, kernel_cache):
    """Each library is the kernel torch.compile builds, built ahead of time: value and gradients
    agree bit for bit (the padded tail row, ±0, ±inf, NaN and a subnormal included)."""
    if case.startswith("sgblend"):
        module, x = B.SGBlend(alpha=0.3, beta=1.3, gamma=0.2), inputs(torch.float32)
    else:
        module, x = B.GELU(precision="exact"), inputs(torch.bfloat16)
    with no_warnings():
        prebuilt_results = evaluate(module, x)
    libraries = sorted(p.name.split("_")[0] for p in kernel_cache.glob("*.so"))
    assert libraries == ["grad", "value"] and not kernels.COMPILED
    B.PREBUILT = False
    compiled_results = evaluate(module, x)
    assert set(kernels.COMPILED) == {(kind, module.function, module.precision) for kind in ("value", "grad")}
    for got, expected in zip(prebuilt_results, compiled_results, strict=True):
        assert got.dtype == expected.dtype and torch.equal(bits(got), bits(expected))


SCRIPT = textwrap.dedent("""
    import sys
    import torch
    from sgblend_spec.backends.torch import SSwish, prebuilt
    x = torch.linspace(-30, 30, {numel}, requires_grad=True)
    module = SSwish(beta=1.3, gamma=0.2)
    y = module(x)
    y.backward(torch.ones_like(y))
    torch.save([y.detach(), x.grad, module.beta.grad, module.gamma.grad], sys.argv[1])
    print(len(prebuilt.LOADED), len(prebuilt.BUILDING),
          *[name for name in ("torch._dynamo", "torch._inductor") if name in sys.modules])
    prebuilt.wait()
""")


def test_a_new_process_builds_in_the_background_then_loads_without_compiling(tmp_path):
    """The first process evaluates eagerly while child processes build the libraries, importing
    neither dynamo nor Inductor itself; the next process loads them and imports neither either;
    a damaged library is built again in the background, and the process after loads it."""
    env = {**os.environ, "SGBLEND_TORCH_KERNEL_CACHE": str(tmp_path / "cache"), "SGBLEND_TORCH_PREBUILT": "1",
           "SGBLEND_TORCH_COMPILE": "1", "SGBLEND_TORCH_BUILD_IN_BACKGROUND": "1",
           "PYTHONWARNINGS": "error::RuntimeWarning"}
    script = tmp_path / "call.py"
    script.write_text(SCRIPT.format(numel=NUMEL))

    def run(label: str) -> tuple[list[str], list[torch.Tensor]]:
        done = subprocess.run([sys.executable, str(script), str(tmp_path / label)], env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.split(), torch.load(tmp_path / label)

    state, first = run("first")
    assert state == ["0", "2"]  # nothing loaded, both libraries building, no compiler imported here
    assert sorted(p.name.split("_")[0] for p in (tmp_path / "cache").glob("*.so")) == ["grad", "value"]
    assert not list((tmp_path / "cache").glob("*.log"))
    state, warm = run("warm")
    assert state == ["2", "0"]
    (value_library,) = (tmp_path / "cache").glob("value_*.so")
    value_library.write_bytes(b"not a shared library")
    state, _ = run("damaged")
    assert state == ["1", "1"]  # the gradient's library loaded, the value's building again
    state, rebuilt = run("rebuilt")
    assert state == ["2", "0"]
    assert all(torch.equal(a, b) for a, b in zip(rebuilt, warm, strict=True))
    # The eager kernels of the first call, within the tier's bounds of the compiled ones.
    assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(first, warm, strict=True))


def test_calls_evaluate_eagerly_until_the_background_build_is_done(kernel_cache, monkeypatch):
    """While a child process builds, the calls give the eager kernels' bits; after it, the
    library's. Under deterministic algorithms the call waits for the build instead."""
    monkeypatch.setattr(B, "BUILD_IN_BACKGROUND", True)
    module, x = B.LambdaGELU(lam=1.7), inputs(torch.float32)
    with no_warnings():
        during = evaluate(module, x)
    assert len(prebuilt.BUILDING) == 2 and not prebuilt.LOADED and not kernels.COMPILED
    B.COMPILE = False
    eager = evaluate(module, x)
    B.COMPILE = True
    for got, expected in zip(during, eager, strict=True):
        assert torch.equal(bits(got), bits(expected))
    prebuilt.wait()
    with no_warnings():
        after = evaluate(module, x)
    assert len(prebuilt.LOADED) == 2 and not prebuilt.BUILDING and not kernels.COMPILED
    assert not list(kernel_cache.glob("*.log"))
    for got, expected in zip(after, eager, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6, equal_nan=True)

    def no_child(*args):
        raise AssertionError("a child process was started under deterministic algorithms")

    # The value library missing again: the call builds it itself (here: puts the saved file back).
    (library,) = kernel_cache.glob("value_*.so")
    saved = library.read_bytes()
    library.unlink()
    built = []
    monkeypatch.setattr(prebuilt, "_start_build", no_child)
    monkeypatch.setattr(prebuilt, "build", lambda path, *signature: built.append(path.write_bytes(saved)))
    monkeypatch.setattr(prebuilt, "LOADED", {})
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        with no_warnings():
            again = evaluate(module, x)
    finally:
        torch.use_deterministic_algorithms(deterministic)
    assert len(built) == 1 and len(prebuilt.LOADED) == 2
    for got, expected in zip(again, after, strict=True):
        assert torch.equal(bits(got), bits(expected))


def test_auto_builds_in_the_background_only_beside_torchs_threads(monkeypatch):
    """"auto": a child process builds where a CPU is free beside torch's intra-op threads, the
    call builds where they take every CPU; True and False force it, deterministic algorithms wait."""
    monkeypatch.setattr(prebuilt.os, "sched_getaffinity", lambda pid: set(range(4)), raising=False)
    monkeypatch.setattr(B, "BUILD_IN_BACKGROUND", "auto")
    for threads, expected in ((3, True), (4, False), (8, False)):
        monkeypatch.setattr(prebuilt.torch, "get_num_threads", lambda threads=threads: threads)
        assert prebuilt.background() is expected
    monkeypatch.setattr(B, "BUILD_IN_BACKGROUND", True)
    assert prebuilt.background() is True
    monkeypatch.setattr(B, "BUILD_IN_BACKGROUND", False)
    assert prebuilt.background() is False
    monkeypatch.setattr(B, "BUILD_IN_BACKGROUND", True)
    monkeypatch.setattr(prebuilt.torch, "are_deterministic_algorithms_enabled", lambda: True)
    assert prebuilt.background() is False


def test_a_failed_background_build_names_its_output_and_falls_back(kernel_cache, monkeypatch):
    """A child process that fails (here: exits 3 after printing) gives a warning that quotes its
    output, then torch.compile's kernel (here dynamo's eager backend), once per process."""
    monkeypatch.setattr(B, "BUILD_IN_BACKGROUND", True)
    monkeypatch.setattr(prebuilt, "_child_command", lambda request: [
        sys.executable, "-c", "import sys; print('no C++ compiler here'); sys.exit(3)"])
    real_compile = torch.compile
    monkeypatch.setattr(kernels.torch, "compile", lambda fn, options=None, **kw: real_compile(fn, backend="eager", **kw))
    module, x = B.SSwish(beta=1.3, gamma=0.2), inputs(torch.float32)
    with no_warnings():
        evaluate(module, x)  # eager, the children started
    prebuilt.wait()
    with pytest.warns(RuntimeWarning, match="exited with status 3: no C\\+\\+ compiler here"):
        evaluate(module, x)
    assert set(kernels.COMPILED) == {("value", "sswish", "fast"), ("grad", "sswish", "fast")}
    assert not prebuilt.BUILDING and len(prebuilt.FAILED) == 2


def test_the_command_line_builds_ahead_of_time(kernel_cache, monkeypatch, capsys):
    """``python -m sgblend_spec.backends.torch.prebuilt FUNCTION`` builds a module's value and
    gradient libraries in float32 (which the module's first call then loads), and restores the
    package's settings; an unknown function is an error naming the allowed ones."""
    monkeypatch.setattr(B, "BUILD_IN_BACKGROUND", True)
    prebuilt.main(["gelu_sigmoid"])
    assert capsys.readouterr().out.endswith(f"2 libraries built in {kernel_cache}\n")
    assert sorted(p.name.split("_")[0] for p in kernel_cache.glob("*.so")) == ["grad", "value"]
    assert B.BUILD_IN_BACKGROUND is True and not prebuilt.BUILDING
    monkeypatch.setattr(prebuilt, "LOADED", {})
    with no_warnings():
        evaluate(B.GELU("sigmoid"), inputs(torch.float32))
    assert len(prebuilt.LOADED) == 2 and not prebuilt.BUILDING
    with pytest.raises(SystemExit):
        prebuilt.main(["gelu_fancy"])
    assert "FUNCTION must be one of swish" in capsys.readouterr().err


def test_a_kernel_that_cannot_be_built_falls_back_to_torch_compile(kernel_cache, monkeypatch):
    """No compiler, no AOTInductor or an unwritable cache: a warning naming the kernel, then
    torch.compile's kernel (here dynamo's eager backend), once per process."""
    def fail(*args):
        raise OSError("no C++ compiler")

    monkeypatch.setattr(prebuilt, "build", fail)
    real_compile = torch.compile
    monkeypatch.setattr(kernels.torch, "compile", lambda fn, options=None, **kw: real_compile(fn, backend="eager", **kw))
    module, x = B.LambdaGELU(lam=1.7), inputs(torch.float32)
    with pytest.warns(RuntimeWarning, match="prebuilt (value|grad) kernel of lambda_gelu is unavailable"):
        first = evaluate(module, x)
    assert set(kernels.COMPILED) == {("value", "lambda_gelu", "fast"), ("grad", "lambda_gelu", "fast")}
    with no_warnings():
        again = evaluate(module, x)
    for a, b in zip(first, again, strict=True):
        assert torch.equal(bits(a), bits(b))


def test_each_library_is_keyed_by_what_its_code_depends_on(monkeypatch):
    """Function, tier, needed gradients and every input dtype name a different library, and so
    does a change to the formulas' source (the digest): a stale library is never loaded."""
    f32, f64 = torch.float32, torch.float64
    base = prebuilt.key("value", "swish", "fast", None, (f32, f32))
    assert base.startswith("value_swish_fast_")
    others = {
        prebuilt.key("value", "swish", "exact", None, (f32, f32)),
        prebuilt.key("value", "gelu_sigmoid", "fast", None, (f32,)),
        prebuilt.key("value", "swish", "fast", None, (f64, f32)),
        prebuilt.key("value", "swish", "fast", None, (f32, f64)),
        prebuilt.key("grad", "swish", "fast", (True, True), (f32,) * 5),
        prebuilt.key("grad", "swish", "fast", (False, True), (f32,) * 4),
    }
    assert base not in others and len(others) == 6
    monkeypatch.setattr(prebuilt, "_DIGEST", ["a changed formula"])
    prebuilt.key.cache_clear()
    assert prebuilt.key("value", "swish", "fast", None, (f32, f32)) != base
    prebuilt.key.cache_clear()
