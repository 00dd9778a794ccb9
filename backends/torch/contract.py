"""The input contract (``spec.INPUT_CONTRACT``) bound to torch tensors.

``x`` is a float16/bfloat16/float32/float64 tensor or NumPy array (converted to a CPU
tensor); Python numbers and lists are a TypeError. Parameters are Python numbers, NumPy
floats or floating tensors that broadcast to x's shape. Eagerly a CPU tensor parameter's
values are checked on the host (ValueError naming it); on an accelerator (CUDA, ...), where a
host read would synchronise every call, and inside a ``torch.compile`` region, where it
would break the graph, by ``torch._assert_async`` (RuntimeError naming the parameter when
the kernel runs). Under torch.func transforms the check reads the transform's underlying
tensor, so it raises the eager ValueError there too (on the CPU). The nn.Modules check their
parameters where they change (construction, loading, the constraint hook), not per call.

The "exact" tier needs float64: on a device without it (MPS) it is an error naming the
cause and the fix (:func:`check_device`), never a silent float32 evaluation.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from sgblend_spec import checks, spec

from .numerics import working

#: Device types without float64 tensors.
NO_FLOAT64_DEVICES = ("mps",)


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def from_numpy(a: np.ndarray | np.generic) -> torch.Tensor:
    """A NumPy array or scalar as a CPU tensor of the same dtype and values (a copy)."""
    a = np.array(a, copy=True, order="C")  # keeps 0-d; no negative strides
    if a.dtype.name == "bfloat16":  # ml_dtypes: same bits as torch.bfloat16
        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(a)


def as_input(function: str, x: object) -> torch.Tensor:
    """x as a tensor of a supported dtype (spec.INPUT_CONTRACT "x.type", "x.dtype").

    A NumPy array or scalar becomes a CPU tensor with its dtype and values; anything else
    that is not a tensor (a Python number or list) is a TypeError.
    """
    if isinstance(x, (np.ndarray, np.generic)):
        checks.check_x_dtype(function, np.asarray(x).dtype.name)
        return from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise checks.x_type_error(function, x, "torch")
    checks.check_x_dtype(function, dtype_name(x.dtype))
    return x


#: The in-graph assertion messages, as constants (dynamo does not trace str.format).
DOMAIN_MESSAGES = {
    name: {p.name: checks.domain_message(name, p) for p in record.params} for name, record in spec.FUNCTIONS.items()
}


def underlying(t: torch.Tensor) -> torch.Tensor:
    """The plain tensor under torch.func's wrappers (a vmap batch holds every sample)."""
    t = t.detach()
    while torch._C._functorch.is_functorch_wrapped_tensor(t):
        t = torch._C._functorch.get_unwrapped(t)
    return t


def check_device(function: str, x: torch.Tensor, precision: str) -> None:
    """The tier's working dtype must exist on x's device: "exact" needs float64 (not on MPS)."""
    if x.device.type in NO_FLOAT64_DEVICES and working(x.dtype, precision) == torch.float64:
        raise RuntimeError(
            f"{function}: precision='exact' needs float64, which the {x.device.type} device does not have; "
            "move the tensor to the CPU (or a CUDA device), or use precision='fast'"
        )


def check_tensor_domain(function: str, parameter: spec.Parameter, t: torch.Tensor, compiling: bool) -> None:
    """Every element of ``t`` finite and inside ``parameter``'s domain."""
    if compiling:  # no host read inside a graph: an in-graph assertion instead
        ok = checks.domain_mask(parameter, t.detach(), torch.isfinite)
        torch._assert_async(ok.all(), DOMAIN_MESSAGES[function][parameter.name])
        return
    t = underlying(t)
    if t.device.type != "cpu":  # no device->host synchronisation: asserted on the device
        torch._assert_async(checks.domain_mask(parameter, t, torch.isfinite).all(),
                            DOMAIN_MESSAGES[function][parameter.name])
        return
    ok = checks.domain_mask(parameter, t, torch.isfinite)
    if not bool(ok.all()):
        bad = float(t[~ok].reshape(-1)[0])
        raise ValueError(f"{checks.domain_message(function, parameter)}, got {bad!r}")


def check_parameter(function: str, parameter: spec.Parameter, value: object, x: torch.Tensor, compiling: bool,
                    check_domain: bool = True):
    """Check one parameter (spec.INPUT_CONTRACT "param.*"); return a float or a tensor.

    A NumPy array becomes a constant tensor on x's device, a 0-d NumPy float a Python float.
    ``check_domain=False`` skips the value check of a tensor (a module's own parameters,
    checked where they change).
    """
    if isinstance(value, (np.ndarray, np.generic)):
        kind = np.asarray(value).dtype
        if kind.kind != "f" and kind.name != "bfloat16":
            raise TypeError(
                f"{function}: parameter '{parameter.name}' must be real floating point, got dtype {kind}"
            )
        value = float(value) if np.ndim(value) == 0 else from_numpy(value).to(x.device)
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            raise TypeError(
                f"{function}: parameter '{parameter.name}' must be real floating point, got dtype "
                f"{dtype_name(value.dtype)}"
            )
        if check_domain:
            check_tensor_domain(function, parameter, value, compiling)
        checks.check_parameter_shape(function, parameter.name, tuple(value.shape), tuple(x.shape))
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{function}: parameter '{parameter.name}' must be a real number or a floating-point "
            f"tensor, got {type(value).__name__}"
        )
    value = float(value)
    if value not in parameter.domain:
        checks.validate(function, {parameter.name: value})  # raises, with the spec's message
    return value


def check_parameters(function: str, x: torch.Tensor, params: dict[str, object], check_domain: bool = True) -> list:
    """Every parameter of ``function`` checked, in the spec's order (floats or tensors)."""
    compiling = torch.compiler.is_compiling()
    return [check_parameter(function, p, params[p.name], x, compiling, check_domain)
            for p in spec.FUNCTIONS[function].params]
