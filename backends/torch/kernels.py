"""The value and gradient kernels: pure functions of tensors, compiled for large inputs.

On tensors with at least ``COMPILE_MIN_NUMEL`` elements the kernels are compiled once per
spec function and precision tier with ``torch.compile(fullgraph=True)`` and IEEE arithmetic
(:data:`IEEE_OPTIONS`), which fuses the evaluation in the tier's working dtype
(:func:`numerics.working`) into one pass. With 0-d parameters (a module's default, or Python
numbers) the value kernel takes x flat and the gradient kernel takes it in rows of ``SUM_BLOCK`` (:func:`grad_rows_kernel`: the x-gradient
and the parameters' row sums in one loop that reads x and the upstream gradient once), both as
storage aliases (:func:`alias`) with a dynamic length: one graph per kernel, dtype and set of
needed gradients serves every shape and rank, so a new shape compiles nothing. On the CPU
these two are built once per machine, not per process: :mod:`.prebuilt` keeps them as
AOTInductor libraries in a disk cache (``PREBUILT``, a setting of the package), built by a child
process while the calls evaluate eagerly where a CPU is free (``BUILD_IN_BACKGROUND``). Other
parameters (per-channel) use the ``*_shaped`` kernels on x as it comes. ``COMPILE`` and
``COMPILE_MIN_NUMEL`` are settings of the package (``sgblend_spec.backends.torch.COMPILE =
False`` always runs eagerly) and are read from it on each call. If compilation fails the
kernel falls back to eager evaluation once, with a warning. Inside a user's ``torch.compile``
region the kernels are traced inline (no nested compile, no graph break); under torch.func
transforms they run eagerly on the transform's tensors.
"""

from __future__ import annotations

import types
import warnings

import torch

import sgblend_spec.backends.torch as package
from sgblend_spec import formulas, spec

from .numerics import SUM_BLOCK, namespace_for, round_once, sum_to_shape, working

PARAM_NAMES = {name: record.param_names for name, record in spec.FUNCTIONS.items()}
#: (value, grad, dxx) per spec function, looked up once (dynamo cannot trace globals()).
FORMULAS = {name: formulas.FORMULAS[name] for name in spec.FUNCTIONS}


def value_kernel(name: str, precision: str, x: torch.Tensor, params: tuple[torch.Tensor, ...], *,
                 own_compile: bool = False) -> torch.Tensor:
    """f(x; params), evaluated in the tier's working dtype and rounded once to x's dtype.
    ``own_compile`` (every kernel has it) is True in the kernels :func:`specialised` compiles:
    it picks the namespace (:func:`numerics.namespace_for`)."""
    value = FORMULAS[name].value
    wd = working(x.dtype, precision)
    kwargs = {n: p.to(wd) for n, p in zip(PARAM_NAMES[name], params)}
    return round_once(value(namespace_for(x, own_compile), x.to(wd), **kwargs), x.dtype)


def grad_kernel(
    name: str,
    precision: str,
    needs: tuple[bool, ...],
    grad_out: torch.Tensor,
    x: torch.Tensor,
    params: tuple[torch.Tensor, ...],
    *,
    own_compile: bool = False,
) -> tuple[torch.Tensor, ...]:
    """grad_out·∂f/∂q for each needed q in (x, *params), reduced to q's shape and dtype."""
    grad = FORMULAS[name].grad
    wd = working(x.dtype, precision)
    kwargs = {n: p.to(wd) for n, p in zip(PARAM_NAMES[name], params)}
    partials = grad(namespace_for(x, own_compile), x.to(wd), **kwargs)
    g = grad_out.to(wd)
    out = []
    for key, target, need in zip(("x", *PARAM_NAMES[name]), (x, *params), needs):
        if need:
            # Reduce in the working dtype, round once.
            out.append(round_once(sum_to_shape(g * partials[key], target.shape), target.dtype))
    return tuple(out)


def grad_rows_kernel(
    name: str,
    precision: str,
    needs: tuple[bool, ...],
    grad_out: torch.Tensor,
    x: torch.Tensor,
    params: tuple[torch.Tensor, ...],
    row_ones: torch.Tensor | None = None,
    out: torch.Tensor | None = None,
    *,
    own_compile: bool = False,
) -> tuple[torch.Tensor, ...]:
    """:func:`grad_kernel` for 0-d parameters and x, grad_out cut into rows (R, C), in one pass:
    the x-gradient per element and each needed parameter's g·∂f/∂q summed along each row in the
    working dtype (R sums: the first level of :func:`numerics.sum_to_shape`, whose later levels
    the caller runs).

    Compiled, the element loop and the row sums fuse into one loop over rows that reads x and
    grad_out once and keeps no intermediate in memory. Two inputs make inductor fuse them:
    ``row_ones`` (R ones; x·1 is x exactly) gives each element a per-row read, so that its loop
    keeps the (R, C) shape of the row sums instead of one flat loop; ``out`` (R, C) receives the
    x-gradient, written in place (a view of the caller's result: no copy of the padded rows).
    Without ``out`` the x-gradient is returned first, as :func:`grad_kernel` does.
    """
    grad = FORMULAS[name].grad
    wd = working(x.dtype, precision)
    kwargs = {n: p.to(wd) for n, p in zip(PARAM_NAMES[name], params)}
    xw, g = x.to(wd), grad_out.to(wd)
    if row_ones is not None:
        xw, g = xw * row_ones[:, None], g * row_ones[:, None]
    partials = grad(namespace_for(x, own_compile), xw, **kwargs)
    sums = []
    if needs[0]:
        dx = round_once(g * partials["x"], x.dtype)
        if out is None:
            sums.append(dx)
        else:
            out.copy_(dx)
    for key, need in zip(PARAM_NAMES[name], needs[1:]):
        if need:
            sums.append((g * partials[key]).sum(dim=-1))
    return tuple(sums)


#: The kernels by kind: "value" and "grad" serve 0-d parameters (x flat, or in rows of
#: SUM_BLOCK), the "_shaped" ones any broadcasting parameters (x as it comes).
KERNELS = {"value": value_kernel, "value_shaped": value_kernel, "grad": grad_rows_kernel,
           "grad_shaped": grad_kernel}
#: Compiled kernels by (kind, spec function, precision tier).
COMPILED: dict[tuple[str, str, str], object] = {}
COMPILE_FAILED: set[tuple[str, str, str]] = set()


def specialised(kind: str, name: str, precision: str):
    """A kernel for one spec function and tier with its own code object.

    Dynamo keeps its cache (and recompile limit) per code object; one per spec function and
    tier keeps them from evicting each other's compiled graphs.
    """
    impl = KERNELS[kind]

    def kernel(*args):
        return impl(name, precision, *args, own_compile=True)

    label = f"_{kind}_{name}_{precision}"
    code = kernel.__code__.replace(co_name=label, co_qualname=label)
    return types.FunctionType(code, kernel.__globals__, label, None, kernel.__closure__)


def in_transform(args) -> bool:
    """Inside a torch.func transform (vmap, grad, jvp, ...), or holding its wrapped tensors?"""
    if torch._C._functorch.peek_interpreter_stack() is not None:
        return True
    flat = [t for a in args for t in (a if isinstance(a, tuple) else (a,))]
    return any(isinstance(t, torch.Tensor) and torch._C._functorch.is_functorch_wrapped_tensor(t) for t in flat)


#: Cached ones (see :func:`grad_rows_kernel`), by working dtype and device.
ROW_ONES: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}


def row_ones(rows: int, dtype: torch.dtype, device: torch.device, mark: bool = True) -> torch.Tensor:
    """``rows`` ones (a view of a cached buffer): see :func:`grad_rows_kernel`."""
    ones = ROW_ONES.get((dtype, device))
    if ones is None or ones.shape[0] < rows:
        ones = ROW_ONES[(dtype, device)] = torch.ones(max(rows, 1 << 12), dtype=dtype, device=device)
    return dynamic_alias(ones, (rows,), mark)


def detached(params: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """The parameters without their autograd state (a module's require grad, a float's tensor
    does not): one compiled graph for both."""
    return tuple(p.detach() for p in params)


def flat(x: torch.Tensor, params: tuple[torch.Tensor, ...]) -> bool:
    """Whether the flat kernels apply: 0-d parameters and a contiguous x, which is then passed as
    a flat view, so that one compiled kernel serves every shape and rank."""
    return x.is_contiguous() and all(p.dim() == 0 for p in params)


def applies(kind: str, name: str, precision: str, numel: int, args) -> bool:
    """Whether a compiled kernel runs this call; the eager one runs where compiling is off, the
    input is small (or a SymInt: torch.export, ONNX), the kernel failed to compile once, we are
    inside a user's compile (traced inline) or a torch.func transform (whose wrapped tensors a
    compiled graph cannot take)."""
    return (
        package.COMPILE
        and isinstance(numel, int)
        and numel >= package.COMPILE_MIN_NUMEL
        and (kind, name, precision) not in COMPILE_FAILED
        and not torch.compiler.is_compiling()
        and not in_transform(args)
    )


#: The kernels a CPU call may load prebuilt (:mod:`.prebuilt`): the flat ones, whose inputs
#: have one dynamic length.
PREBUILT_KINDS = ("value", "grad")


def prebuilt_for(x: torch.Tensor) -> bool:
    """Whether the flat kernels of a call on ``x`` load prebuilt (the CPU, ``PREBUILT`` on); their
    inputs then need no dynamic mark for dynamo (:func:`dynamic_alias`)."""
    return package.PREBUILT and x.device.type == "cpu"


def compiled(kind: str, name: str, precision: str, numel: int, args) -> object | None:
    """The compiled kernel for this call (``args`` as the kernel takes them), or None where the
    eager one runs (:func:`applies`, or while the prebuilt library is being built): on the CPU
    the flat kernels' prebuilt library (:mod:`.prebuilt`) where ``PREBUILT`` is on, else
    torch.compile's."""
    if not applies(kind, name, precision, numel, args):
        return None
    sized = args[0 if kind == "value" else 1]  # x flat, or grad_out in rows: the dynamic length
    if kind in PREBUILT_KINDS and prebuilt_for(sized) and sized.shape[0] >= 2:
        from . import prebuilt

        kernel = prebuilt.kernel(kind, name, precision, args)
        if kernel is prebuilt.PENDING:
            return None
        if kernel is not None:
            return kernel
    key = (kind, name, precision)
    kernel = COMPILED.get(key)
    if kernel is None:
        # "value" takes x flat, its length marked dynamic (see value()), "grad" rows of a static
        # SUM_BLOCK, their count marked dynamic (see grads()); the "_shaped" ones become
        # dynamic in the sizes that change (dynamo's automatic dynamic shapes). Not
        # dynamic=True: it makes the formulas' float constants symbolic too, and dynamo then
        # restarts the first trace to specialise them again (~2 s of every first call).
        kernel = COMPILED[key] = torch.compile(specialised(kind, name, precision), fullgraph=True,
                                               options=inductor_options())
    return kernel


#: Inductor settings for IEEE arithmetic as the formulas write it. Triton (CUDA) otherwise
#: contracts a·b + c into one FMA, which costs an error-free product its low part wherever
#: compensated.rounded's guard is lost (the compiled λ-GELU, whose λx is such a product,
#: measured 101 ULP on an H100 while Inductor folded the guard away; eager and CPU-compiled:
#: 3), divides with the approximate div.full (2 ULP) and may flush subnormals. Inductor's
#: C++ code (CPU) contracts and reassociates nothing by default, but the environment can change
#: that (TORCHINDUCTOR_CPP_ENABLE_UNSAFE_MATH_OPT_FLAG=1, TORCHINDUCTOR_CPP_ENABLE_FLOATING_POINT_
#: CONTRACT_FLAG=fast: gcc then folds the error-free sums, 152 ULP off on the λ-GELU tail, 64 on
#: SSwish's, -0 made +0), so the kernels pin both off.
IEEE_OPTIONS = {"emulate_precision_casts": True, "eager_numerics.division_rounding": True,
                "eager_numerics.disable_ftz": True, "cpp.enable_unsafe_math_opt_flag": False,
                "cpp.enable_floating_point_contract_flag": "off"}


#: Inductor's C++ asks OpenMP for the thread count when it runs (``omp_get_max_threads()``),
#: not when it is generated: otherwise the code is specialised to the builder's
#: ``torch.get_num_threads()``, and a library built once under OMP_NUM_THREADS=1 (a test run, a
#: data-loader worker) ran every later process on one thread (measured: λ-GELU 16M forward
#: 151 ms with 1 or 2 threads; 74 ms with 2 this way). The kernels sum no partial across
#: threads (the parameter sums run along rows), so their numbers do not depend on it.
PARALLEL_OPTIONS = {"cpp.dynamic_threads": True}
#: The kernels' Inductor settings (torch.compile's and the prebuilt libraries')
KERNEL_OPTIONS = {**IEEE_OPTIONS, **PARALLEL_OPTIONS}


def inductor_options() -> dict[str, bool]:
    """:data:`KERNEL_OPTIONS`, those this torch's Inductor has (older ones lack some)."""
    from torch._inductor import config

    known = config.get_config_copy()
    return {k: v for k, v in KERNEL_OPTIONS.items() if k in known}


def call(kind: str, name: str, precision: str, numel: int, *args):
    """Run a compiled kernel; on failure (no compiler toolchain, unsupported op, ...) remember it,
    warn once and return None (the caller runs the eager kernel)."""
    kernel = compiled(kind, name, precision, numel, args)
    if kernel is None:
        return None
    try:
        return kernel(*args)
    except Exception as exc:
        COMPILE_FAILED.add((kind, name, precision))
        warnings.warn(
            f"sgblend_spec.backends.torch: compiling the {kind} kernel of {name} failed "
            f"({type(exc).__name__}: {exc}); using eager evaluation",
            RuntimeWarning,
            stacklevel=4,
        )
        return None


def value(name: str, precision: str, x: torch.Tensor, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """:func:`value_kernel`, compiled for large inputs (when enabled), eager otherwise (a large
    flat CPU input in pieces: :func:`chunked`). With 0-d parameters a contiguous x is passed flat:
    one compiled kernel for every shape and rank."""
    kind = "value" if flat(x, params) else "value_shaped"
    if applies(kind, name, precision, x.numel(), (x, params)):
        args = ((dynamic_alias(x, (x.numel(),), mark=not prebuilt_for(x)), detached(params)) if kind == "value"
                else (x, params))
        y = call(kind, name, precision, x.numel(), *args)
        if y is not None:
            return y.view(x.shape)
    if kind == "value" and chunked(x, (x, params)):
        y = torch.empty_like(x, memory_format=torch.contiguous_format)
        flat_x, flat_y = alias(x, (x.numel(),)), y.view(-1)
        for start in range(0, x.numel(), EAGER_CHUNK):
            flat_y[start:start + EAGER_CHUNK] = value_kernel(name, precision, flat_x[start:start + EAGER_CHUNK], params)
        return y
    return value_kernel(name, precision, x, params)


#: Elements per piece of an eager evaluation of a large CPU input (256 rows of SUM_BLOCK). In
#: pieces, the formulas' hundreds of temporaries stay in the caches and the allocator's free
#: lists, where at the input's size each is a fresh allocation, page-faulted in: 6-8x faster at
#: 16M float32 elements (measured), with the same bits (elementwise, and the same rows summed).
EAGER_CHUNK = 1 << 18


def chunked(x: torch.Tensor, args) -> bool:
    """Whether the eager kernels evaluate this call in pieces of :data:`EAGER_CHUNK`: a flat
    CPU input larger than one, outside a trace (dynamo, export, ``torch.jit.trace``) and a
    torch.func transform, whose recorded graph would hold every piece."""
    numel = x.numel()
    return (x.device.type == "cpu" and isinstance(numel, int) and numel > EAGER_CHUNK
            and not torch.compiler.is_compiling() and not torch.jit.is_tracing() and not in_transform(args))


def eager_rows(name: str, precision: str, needs: tuple[bool, ...], grad_out: torch.Tensor, x: torch.Tensor,
               params: tuple[torch.Tensor, ...], out: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    """:func:`grad_rows_kernel` evaluated eagerly, EAGER_CHUNK elements (whole rows) at a time:
    the x-gradient into ``out``, the row sums concatenated."""
    step = EAGER_CHUNK // SUM_BLOCK
    pieces = [grad_rows_kernel(name, precision, needs, grad_out[start:start + step], x[start:start + step], params,
                               None, None if out is None else out[start:start + step])
              for start in range(0, x.shape[0], step)]
    return tuple(torch.cat(sums) for sums in zip(*pieces))


def alias(t: torch.Tensor, shape: tuple[int, ...], offset: int = 0) -> torch.Tensor:
    """Elements ``offset``... of a contiguous ``t`` as a contiguous tensor of ``shape`` on the same
    storage. Not a view (no ``_base``) and not requiring grad: torch.compile's guards then see
    this shape only, not the rank, strides or requires_grad of the tensor it came from, and one
    compiled graph serves every input."""
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    return t.new_empty(0).set_(t.untyped_storage(), t.storage_offset() + offset, shape, strides)


def dynamic_alias(t: torch.Tensor, shape: tuple[int, ...], mark: bool = True) -> torch.Tensor:
    """:func:`alias` of a contiguous ``t`` as a kernel input whose first dimension is dynamic in
    the compiled kernel (one graph for every length), marked so for dynamo where ``mark`` (a
    prebuilt kernel's length is dynamic by construction, and needs no dynamo import)."""
    view = alias(t, shape)
    if mark:
        torch._dynamo.maybe_mark_dynamic(view, 0)
    return view


def rows(t: torch.Tensor, count: int, mark: bool = True) -> torch.Tensor:
    """The first ``count`` rows of SUM_BLOCK of a contiguous ``t`` (an :func:`alias`), their
    count a dynamic dimension of the compiled kernel (one graph for every count >= 2)."""
    return dynamic_alias(t, (count, SUM_BLOCK), mark)


def grads(
    name: str,
    precision: str,
    needs: tuple[bool, ...],
    grad_out: torch.Tensor,
    x: torch.Tensor,
    params: tuple[torch.Tensor, ...],
) -> tuple[torch.Tensor, ...]:
    """:func:`grad_kernel`, compiled for large inputs (when enabled), eager otherwise (a large
    flat CPU input in pieces: :func:`chunked`).

    With 0-d parameters and a contiguous x the compiled kernel is :func:`grad_rows_kernel` on
    x's full rows of SUM_BLOCK elements, writing the x-gradient in place; the last partial row
    (if any) is zero-padded into two rows of its own (a copy of < SUM_BLOCK elements; two, so
    that the same graph serves it). The row sums are then summed by
    :func:`numerics.sum_to_shape`, eagerly (at most 1/SUM_BLOCK of the elements): the blocks and
    their order are those of the eager kernel, fixed by the code, not by the thread count."""
    if not flat(x, params):
        out = call("grad_shaped", name, precision, x.numel(), needs, grad_out, x, params)
        return out if out is not None else grad_kernel(name, precision, needs, grad_out, x, params)
    compile_rows = applies("grad", name, precision, x.numel(), (grad_out, x, params))
    in_pieces = chunked(x, (grad_out, x, params))
    if not x.numel() or not (compile_rows or in_pieces):
        return grad_kernel(name, precision, needs, grad_out, x, params)
    wd = working(x.dtype, precision)
    mark = compile_rows and not prebuilt_for(x)

    def run_rows(count, g_rows, x_rows, out_rows):
        """The row kernel on ``count`` rows: compiled, else (its library being built, compiling
        off or failed) eagerly in pieces where that applies, else None."""
        got = None
        if compile_rows:
            got = call("grad", name, precision, x.numel(), needs, g_rows, x_rows, params,
                       row_ones(count, wd, x.device, mark), out_rows)
        if got is None and in_pieces:
            got = eager_rows(name, precision, needs, g_rows, x_rows, params, out_rows)
        return got

    full, tail = divmod(x.numel(), SUM_BLOCK)
    xf, gf, params = x, grad_out.contiguous(), detached(params)
    dx = torch.empty_like(x, memory_format=torch.contiguous_format) if needs[0] else None
    sums = []
    if full:
        got = run_rows(full, rows(gf, full, mark), rows(xf, full, mark), None if dx is None else rows(dx, full, mark))
        if got is None:
            return grad_kernel(name, precision, needs, grad_out, x, params)
        sums.append(got)
    if tail:
        start = full * SUM_BLOCK
        xt = xf.new_zeros(2 * SUM_BLOCK)
        gt = gf.new_zeros(2 * SUM_BLOCK)
        xt[:tail], gt[:tail] = alias(xf, (tail,), start), alias(gf, (tail,), start)
        dt = torch.empty_like(xt) if needs[0] else None
        got = run_rows(2, rows(gt, 2, mark), rows(xt, 2, mark), None if dt is None else rows(dt, 2, mark))
        if got is None:
            return grad_kernel(name, precision, needs, grad_out, x, params)
        sums.append(tuple(s[:1] for s in got))  # the second row is all padding
        if dt is not None:
            dx.view(-1)[start:] = dt[:tail]
    needed = [p for p, need in zip(params, needs[1:]) if need]
    row_sums = [torch.cat(parts) if len(parts) > 1 else parts[0] for parts in zip(*sums)]
    return (*([] if dx is None else [dx]),
            *(round_once(sum_to_shape(r, p.shape), p.dtype) for r, p in zip(row_sums, needed)))
