"""The speed paths of the torch backend, checked structurally (no timings): what backward saves,
that one compiled kernel serves every shape and rank, that the fused gradient kernel gives the
eager kernel's numbers, and that a module's eager call reads no parameter back to the host."""

from __future__ import annotations

import inspect
import logging
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from sgblend_spec.backends import torch as B
from sgblend_spec.backends.torch import kernels
from sgblend_spec.backends.torch.numerics import SUM_BLOCK

MODULES = {
    "sswish": lambda: B.SSwish(beta=1.3, gamma=0.2),
    "sgblend": lambda: B.SGBlend(alpha=0.3, beta=1.3, gamma=0.2),
    "sgblend_gelu": lambda: B.SGBlend(alpha=0.3, beta=1.3, gamma=0.2, gelu="exact"),
    "lambda_gelu": lambda: B.LambdaGELU(lam=1.7),
}


@pytest.fixture
def counted_compiles(monkeypatch):
    """Compiling on for every size, with dynamo's "eager" backend (no C++ build); returns the
    list of (kernel, graph) pairs dynamo traced."""
    graphs: list[tuple[str, object]] = []
    real_compile = torch.compile

    def compile_counting(fn, options=None, **kwargs):
        # every kernel asks Inductor for IEEE arithmetic (no FMA contraction on CUDA)
        assert options == kernels.inductor_options() and options["emulate_precision_casts"], options

        def backend(gm, example_inputs):
            graphs.append((fn.__name__, gm))
            return gm.forward

        return real_compile(fn, backend=backend, **kwargs)  # the "eager" backend takes no Inductor options

    _compile_every_size(monkeypatch, compile_counting)
    yield graphs
    torch._dynamo.reset()


def _compile_every_size(monkeypatch, compile_fn, inductor: bool = False) -> None:
    """Compiling on for every size, with no kernel compiled yet, through ``compile_fn`` in
    place of torch.compile. Unless ``compile_fn`` compiles with Inductor, the kernels take
    their products' errors from Dekker's product: dynamo's eager backends run Inductor's
    ``prims.fma`` as a·b + c rounded twice (numerics.fused_product_error)."""
    from sgblend_spec.backends.torch import numerics

    if not inductor:
        for device, namespace in numerics.OWN_COMPILE.items():
            monkeypatch.setitem(numerics.OWN_COMPILE, device, replace(namespace, product_error=None))
    torch._dynamo.reset()
    monkeypatch.setattr(B, "COMPILE", True)
    monkeypatch.setattr(B, "COMPILE_MIN_NUMEL", 0)
    monkeypatch.setattr(kernels, "COMPILED", {})
    monkeypatch.setattr(kernels, "COMPILE_FAILED", set())
    monkeypatch.setattr(kernels.torch, "compile", compile_fn)


def _fwd_bwd(module, x):
    x = x.detach().requires_grad_()
    y = module(x)
    y.backward(torch.ones_like(y))
    return y, x.grad, [p.grad for p in module.parameters()]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_backward_saves_only_x_and_the_parameters(name, counted_compiles):
    module = MODULES[name]()
    x = torch.randn(3, SUM_BLOCK + 7, requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        module(x)
    big = [t for t in saved if t.numel() == x.numel()]
    assert len(big) == 1 and big[0].data_ptr() == x.data_ptr()
    assert all(t.numel() == 1 for t in saved if t.numel() != x.numel())


@pytest.mark.parametrize("name", sorted(MODULES))
def test_one_compiled_graph_serves_every_shape_and_rank(name, counted_compiles):
    """The value kernel sees x flat, the gradient kernel rows of SUM_BLOCK (the partial last row
    padded into the same graph): a new size or rank compiles nothing."""
    module = MODULES[name]()
    _fwd_bwd(module, torch.randn(4, 3 * SUM_BLOCK))  # a whole number of rows: no tail
    _fwd_bwd(module, torch.randn(5, 4 * SUM_BLOCK + 3))  # a partial last row
    first = len(counted_compiles)
    assert {kind for kind, _ in counted_compiles} == {f"_value_{name}_fast", f"_grad_{name}_fast"}
    for shape in [(7, 3 * SUM_BLOCK + 11), (2, 3, 5, 700), (9 * SUM_BLOCK,), (3, 1, 6 * SUM_BLOCK - 1)]:
        _fwd_bwd(module, torch.randn(shape))
    assert len(counted_compiles) == first


@pytest.mark.parametrize("precision", ["fast", "exact"])
def test_kernels_compile_without_warnings_or_recompiles(precision, counted_compiles):
    """Dynamo traces the formulas without a warning (a functools cache on the way once gave one
    on every first compile) and a second call reuses the graphs."""
    module = B.SGBlend(precision=precision)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _fwd_bwd(module, torch.randn(3, SUM_BLOCK + 7))
        first = len(counted_compiles)
        _fwd_bwd(module, torch.randn(3, SUM_BLOCK + 7))
    assert first == 2 and len(counted_compiles) == first


def test_each_kernel_is_traced_once(monkeypatch):
    """Under AOT autograd, as Inductor compiles, dynamo traces each kernel once: with every size
    dynamic, the value kernel's first trace held a symbolic float and was restarted (about 2 s of
    every first call, with warm caches too)."""
    restarts = []

    class Restarts(logging.Handler):
        def emit(self, record):
            if "Restarting analysis" in record.getMessage():
                restarts.append(record.getMessage())

    real_compile = torch.compile
    logger = logging.getLogger("torch._dynamo.convert_frame")
    handler, level = Restarts(), logger.level
    _compile_every_size(monkeypatch, lambda fn, options=None, **kw: real_compile(fn, backend="aot_eager", **kw))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        _fwd_bwd(MODULES["sgblend"](), torch.randn(3, SUM_BLOCK + 7))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        torch._dynamo.reset()
    assert not restarts


def test_the_gradient_kernel_is_one_pass_over_rows(counted_compiles):
    """The graph of the gradient kernel: x-gradient written into the caller's buffer (copy_),
    each parameter summed along rows, and nothing of x's size returned."""
    module = MODULES["sgblend"]()
    _fwd_bwd(module, torch.randn(5, 4 * SUM_BLOCK))
    (gm,) = [gm for kind, gm in counted_compiles if kind.startswith("_grad_")]
    targets = [node.target for node in gm.graph.nodes if node.op == "call_method" or node.op == "call_function"]
    assert "copy_" in [getattr(t, "__name__", t) for t in targets]
    outputs = [node for node in gm.graph.nodes if node.op == "output"][0].args[0]
    assert len(outputs) == 3  # three row sums, the x-gradient went in place


@pytest.mark.parametrize("name", sorted(MODULES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("numel", [2 * SUM_BLOCK, 3 * SUM_BLOCK + 5, SUM_BLOCK - 3])
def test_fused_gradient_kernel_gives_the_eager_numbers(name, dtype, numel, counted_compiles, monkeypatch):
    """Rows, the padded last row and the blocked sum of the row sums give the eager kernel's
    x-gradient (elementwise the same ops) and its parameter gradients to a few float32 ulps
    (the blocks are the same, their order inside a block is the compiler's)."""
    module = MODULES[name]()
    x = (4 * torch.randn(numel, generator=torch.Generator().manual_seed(1))).to(dtype)
    y, gx, gp = _fwd_bwd(module, x)
    assert {kind for kind, _ in counted_compiles} == {f"_value_{name}_fast", f"_grad_{name}_fast"}
    monkeypatch.setattr(B, "COMPILE", False)
    module.zero_grad()
    y2, gx2, gp2 = _fwd_bwd(module, x)
    assert torch.equal(y, y2)
    assert torch.equal(gx, gx2)
    for a, b in zip(gp, gp2):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6 * numel ** 0.5)


def test_fused_gradient_with_only_some_inputs_needed(counted_compiles, monkeypatch):
    """x without grad (a first layer) and frozen parameters: only the needed sums come back."""
    module = MODULES["sgblend"]()
    module.beta.requires_grad_(False)
    x = torch.randn(3 * SUM_BLOCK + 1)
    module(x).sum().backward()
    got = [None if p.grad is None else p.grad.clone() for p in module.parameters()]
    monkeypatch.setattr(B, "COMPILE", False)
    module.zero_grad()
    module(x).sum().backward()
    for a, p in zip(got, module.parameters()):
        assert (a is None) == (p.grad is None)
        if a is not None:
            torch.testing.assert_close(a, p.grad, rtol=1e-5, atol=1e-4)


def test_compiled_kernels_are_thread_count_independent_with_a_tail(counted_compiles):
    module = MODULES["sgblend_gelu"]()
    x = 3 * torch.randn(37 * SUM_BLOCK + 19, generator=torch.Generator().manual_seed(2))
    threads = torch.get_num_threads()
    runs = []
    try:
        for n in (1, 2, 1):
            torch.set_num_threads(n)
            module.zero_grad()
            y, gx, gp = _fwd_bwd(module, x)
            runs.append([y, gx, *gp])
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(runs[0], runs[1]):
        assert torch.equal(a, b)
    for a, b in zip(runs[0], runs[2]):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", sorted(MODULES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_large_eager_calls_run_in_pieces_with_the_same_bits(name, dtype, monkeypatch):
    """A large CPU input evaluated eagerly (compiling off, or a library being built) runs in
    pieces of EAGER_CHUNK elements, whole rows of SUM_BLOCK, the padded last row apart: value,
    x-gradient and parameter gradients bit for bit those of one eager evaluation."""
    module = MODULES[name]()
    x = (4 * torch.randn(9 * SUM_BLOCK + 37, generator=torch.Generator().manual_seed(5))).to(dtype)
    monkeypatch.setattr(kernels, "EAGER_CHUNK", 1 << 40)  # never in pieces
    whole = _fwd_bwd(module, x)
    pieces = []
    for kernel in ("value_kernel", "grad_rows_kernel"):
        real = getattr(kernels, kernel)
        monkeypatch.setattr(kernels, kernel, lambda *a, real=real, **k: pieces.append(real) or real(*a, **k))
    monkeypatch.setattr(kernels, "EAGER_CHUNK", 2 * SUM_BLOCK)
    module.zero_grad()
    in_pieces = _fwd_bwd(module, x)
    assert len(pieces) == 5 + 5 + 1  # values; full rows (9 in 2s); the padded last row
    for a, b in zip([in_pieces[0], in_pieces[1], *in_pieces[2]], [whole[0], whole[1], *whole[2]], strict=True):
        assert a.dtype == b.dtype and torch.equal(a, b)


def in_graph() -> bool:
    """Called from inside a graph that dynamo traced (the "eager" stand-in for inductor's code)?"""
    return any(frame.filename.startswith("<eval_with_key>") for frame in inspect.stack(0))


class _HostReads(TorchDispatchMode):
    """Records every read of a tensor's value to the host (.item(), bool(), float(), ...)."""

    def __init__(self):
        super().__init__()
        self.reads = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            self.reads.append(args[0].shape)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_call_reads_nothing_back_to_the_host(name, counted_compiles, monkeypatch):
    """Issue #17 item 3 on the CPU: a module's eager forward and backward make no
    .item()/bool() read (each would be a device->host synchronisation on an accelerator)."""
    monkeypatch.setattr(B, "COMPILE", False)
    module = MODULES[name]()
    x = torch.randn(2, 3 * SUM_BLOCK + 5, requires_grad=True)
    with _HostReads() as mode:
        module(x).sum().backward()
    assert mode.reads == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_compiled_module_call_reads_nothing_back_to_the_host(name, counted_compiles, monkeypatch):
    """The same with the compiled kernels (a dispatch mode would turn them off: the tensor
    methods that read a value are watched instead). Reads inside the traced graph are the
    formulas' NumPy constants, which dynamo lifts to tensors and inductor folds into its code."""
    module = MODULES[name]()
    x = torch.randn(2, 3 * SUM_BLOCK + 5, requires_grad=True)
    module(x).sum().backward()  # compiles first
    reads = []

    def watched(method: str):
        real = getattr(torch.Tensor, method)

        def read(self, *args):
            if not in_graph():
                reads.append(method)
            return real(self, *args)

        return read

    for method in ("item", "__bool__", "__float__", "__int__", "tolist"):
        monkeypatch.setattr(torch.Tensor, method, watched(method))
    module(x).sum().backward()
    monkeypatch.undo()
    assert reads == []


def test_inductor_keeps_the_rounding_guard_of_error_free_products():
    """compensated.rounded(p) = p + 0.0·finite(p) stops a code generator that contracts a·b + c
    into an FMA (Triton on CUDA, XLA) from fusing a product into Dekker's a_h·b_h - p. Inductor
    folds a product with the integer 0 away (0·finite(p) was, and the compiled λ-GELU lost
    λx's low part on an H100: 101 ULP), so the guard's multiplication must reach its code."""
    from torch._inductor.utils import run_and_get_code

    from sgblend_spec.compensated import rounded

    def guarded(a, b):
        return rounded(B.NAMESPACE, a * b) - a * a  # a·b, the guard's ·0.0, a·a

    torch._dynamo.reset()
    try:
        _, (code, *_) = run_and_get_code(torch.compile(guarded, fullgraph=True), torch.randn(64), torch.randn(64))
    finally:
        torch._dynamo.reset()
    kernel = code[code.index('extern "C"'):]
    products = [line for line in kernel.splitlines() if "auto tmp" in line and " * " in line]
    assert len(products) == 3, "\n".join(products)


def test_only_arithmetic_that_runs_as_written_drops_the_contraction_guard(monkeypatch):
    """numerics.namespace_for: only the kernels' own compile on the CPU (Inductor's C++,
    contraction and unsafe math pinned off) skips compensated.rounded's guard; eager calls
    (which TorchScript or ONNX may trace), a user's torch.compile region (their settings) and
    the kernels' own compile elsewhere (Triton on CUDA) keep it. The kernels' own
    traced graph then has fewer products by 0.0 than the same call traced in a user's region."""
    from sgblend_spec.backends.torch import numerics

    x = torch.linspace(-3, 3, 64)
    assert numerics.namespace_for(x).may_contract
    assert not kernels.IEEE_OPTIONS["cpp.enable_unsafe_math_opt_flag"]
    assert kernels.IEEE_OPTIONS["cpp.enable_floating_point_contract_flag"] == "off"
    seen = []

    def choose(t, own_compile):
        namespace = numerics.namespace_for(t, own_compile)
        seen.append((namespace.may_contract, namespace.product_error is not None))
        return t + 1

    for device, own in (("cpu", True), ("cpu", False), ("meta", True)):
        torch._dynamo.reset()
        torch.compile(choose, backend="eager", fullgraph=True)(torch.zeros(4, device=device), own)
    # only the kernels' own compile takes products' errors from Inductor's FMA (CUDA's too)
    assert seen == [(False, True), (True, False), (True, False)]
    assert numerics.OWN_COMPILE["cuda"].may_contract and numerics.OWN_COMPILE["cuda"].product_error

    graphs = {}
    real_compile = torch.compile

    def capturing(label):
        def backend(gm, example_inputs):
            graphs[label] = gm
            return gm.forward
        return backend

    def own_compile(fn, options=None, **kwargs):
        return real_compile(fn, backend=capturing(fn.__name__), **kwargs)

    module = MODULES["lambda_gelu"]()
    _compile_every_size(monkeypatch, own_compile)
    module(x)
    torch._dynamo.reset()
    real_compile(module, backend=capturing("user"))(x)
    torch._dynamo.reset()

    def guards(gm) -> int:
        return sum(1 for n in gm.graph.nodes if n.op == "call_function" and 0.0 in n.args)

    # the user's region holds the op's forward as a subgraph
    assert guards(graphs["user"].fwd_body_0) > guards(graphs["_value_lambda_gelu_fast"]) > 0


def test_a_users_unsafe_math_settings_do_not_reach_the_kernels(monkeypatch):
    """Inductor's C++ flags follow the environment (TORCHINDUCTOR_CPP_ENABLE_UNSAFE_MATH_OPT_FLAG,
    ..._FLOATING_POINT_CONTRACT_FLAG); with them on, gcc folded the error-free sums (152 ULP on
    the λ-GELU tail, 64 on SSwish's). The kernels pin both off: compiled values stay within a
    few ULPs (Inductor's exp against ATen's) of the eager kernel."""
    from torch._inductor import config

    before = config.get_config_copy()
    x = torch.linspace(-100.0, -6.0, 1 << 14)
    # config.patch, not monkeypatch: undoing a monkeypatch of a config entry deletes the entry
    with config.patch({"cpp.enable_unsafe_math_opt_flag": True, "cpp.enable_floating_point_contract_flag": "fast"}):
        for module in (B.LambdaGELU(), B.SSwish(beta=1.0, gamma=0.0)):
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)  # a failed compile warns and runs eagerly
                monkeypatch.setattr(B, "COMPILE", False)
                eager = module(x)
                _compile_every_size(monkeypatch, torch.compile, inductor=True)
                got = module(x)
            torch._dynamo.reset()
            assert kernels.COMPILED and not kernels.COMPILE_FAILED  # compiled, not run eagerly
            steps = (got.view(torch.int32).long() - eager.view(torch.int32).long()).abs()
            assert int(steps.max()) <= 4, (module, float(x[steps.argmax()]))
    assert config.get_config_copy() == before


def _hard_products(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Factor pairs over the whole finite range whose products stay normal: random significands
    and exponents, the largest finite a (where Veltkamp's split overflows) against a small b,
    signed zeros and subnormal factors."""
    info = torch.finfo(dtype)
    g = torch.Generator().manual_seed(7)
    n = 1 << 12
    a = torch.randn(n, generator=g, dtype=torch.float64) * 2.0 ** torch.randint(-60, 60, (n,), generator=g)
    b = torch.randn(n, generator=g, dtype=torch.float64) * 2.0 ** torch.randint(-60, 60, (n,), generator=g)
    a, b = a.to(dtype), b.to(dtype)
    big = torch.tensor([info.max, -info.max * 0.75, info.max / 3, 0.0, -0.0, info.smallest_normal / 8], dtype=dtype)
    small = torch.tensor([2.0 ** -70, 1e-3 / 3, -3.0 ** -20, 5.0, 1.5, 2.0 ** 40], dtype=dtype)
    return torch.cat([a, big]), torch.cat([b, small])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_inductors_fma_gives_the_exact_error_of_every_product(dtype):
    """The kernels' own compile takes a product's rounding error from Inductor's FMA
    (numerics.fused_product_error, at::vec::fmadd in the C++): its bits are Dekker's (with
    wide_product's scaling where Veltkamp's split overflows) wherever those are exact, an
    error of normal size; in float32 it is the exact error rounded once everywhere."""
    from torch._inductor.utils import run_and_get_code

    from sgblend_spec import compensated
    from sgblend_spec.backends.torch import numerics

    def errors(a, b):
        return compensated.product(numerics.OWN_COMPILE["cpu"], a, b)

    a, b = _hard_products(dtype)
    torch._dynamo.reset()
    try:
        (p, e), (code, *_) = run_and_get_code(torch.compile(errors, fullgraph=True, options=kernels.inductor_options()), a, b)
    finally:
        torch._dynamo.reset()
    assert "fmadd(" in code
    p_ref, e_ref = compensated.wide_product(numerics.NAMESPACE, a, b)
    info = torch.finfo(dtype)
    normal = p.abs() >= info.smallest_normal / info.eps  # an error of a normal size: Dekker's is exact
    assert torch.equal(p, p_ref) and torch.equal(e[normal], e_ref[normal]) and normal.float().mean() > 0.8
    if dtype == torch.float32:  # float32 products are exact in float64: the FMA's error rounded once
        assert torch.equal(e, (a.double() * b.double() - p.double()).float())
    # eagerly (the compiler disabled) the same function is Dekker's
    assert torch.equal(errors(a, b)[1], e_ref)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_own_kernels_run_eagerly_give_the_eager_numbers(name):
    """With torch's compiler disabled (TORCH_COMPILE_DISABLE=1) a kernel's own compile runs as
    plain Python: its products' errors must not come from prims.fma, which rounds a·b first
    when run eagerly."""
    module = MODULES[name]()
    x = 1e3 * torch.randn(4096, generator=torch.Generator().manual_seed(3))
    params = tuple(p.detach() for p in module.parameters())
    own = kernels.specialised("value", module.function, "fast")(x, params)
    assert torch.equal(own, kernels.value_kernel(module.function, "fast", x, params))


def test_kernels_ask_openmp_for_the_thread_count_when_they_run():
    """kernels.PARALLEL_OPTIONS: code built while torch had one thread (a test run under
    OMP_NUM_THREADS=1 that fills the disk cache) still runs its loop on every thread of a later
    process: Inductor would otherwise leave the parallel region out of the code."""
    from torch._inductor.utils import run_and_get_code

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch._dynamo.reset()
    try:
        _, (code, *_) = run_and_get_code(torch.compile(lambda a: a * 2.0 + 1.0, options=kernels.inductor_options()),
                                         torch.randn(1 << 16))
    finally:
        torch.set_num_threads(threads)
        torch._dynamo.reset()
    assert "#pragma omp parallel" in code
