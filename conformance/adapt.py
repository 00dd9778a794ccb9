"""Turn an outside ``f(x, **params)`` into an implementation the suite can test.

    from sgblend_spec.conformance import adapt

    impl = adapt.torch(my_sgblend, function="sgblend", name="my-port")
    impl = adapt.jax(my_sgblend, function="sgblend")
    impl = adapt.tensorflow(my_keras_layer, function="sgblend")    # or a plain TF function
    impl = adapt.numpy(my_sgblend, function="sgblend")             # values only (no autodiff)

Each helper returns an object of the adapter protocol (``adapters/__init__.py``): ``value``
calls ``f`` on a tensor of the framework with the suite's parameters as Python numbers;
``grad`` gives ∂f/∂x and each per-element parameter partial ∂f(x_i)/∂p through the
framework's autodiff (each parameter broadcast to x's shape and differentiated, so ``f``
must broadcast its parameters as array code does); ``dxx`` is ∂²f/∂x² by differentiating
∂f/∂x again. ``f`` may also be a mapping {spec function: callable} for several functions.
Keyword options, shared by every helper:

* ``name``, ``version``: shown in the report (default: the callable's module and version).
* ``dtypes``: the dtypes to test (default: all four; jax without x64 drops float64).
* ``flushes_subnormals``: dtypes the implementation flushes subnormals to zero in (held to
  the flush-to-zero bound, both figures shown; ``conformance/ulp.py``).
* ``fixed_params``: {function: {parameter: value}} for a function supported at one
  parameter set only (a native SiLU is ``swish`` at β = 1); such a parameter is passed
  to ``f`` but not differentiated.
* ``array_parameters``: ``f`` takes NumPy parameter arrays too (see the protocol).
* ``validate``: a ``validate(function, params)`` run before the compiled paths (grad,
  dxx, graph-mode values), where a bad parameter cannot raise.

A function the framework cannot differentiate (a NumPy port) gives values only, unless
``adapt.numpy`` is handed its own ``grad``/``dxx`` callables.
"""

from __future__ import annotations

import importlib
from typing import Callable, Collection, Mapping

import numpy as np

from sgblend_spec import spec

__all__ = ["Adapter", "torch", "jax", "tensorflow", "numpy"]


class Adapter:
    """The adapter protocol over one framework binding and a {function: f} table."""

    def __init__(self, binding, functions: Mapping[str, Callable], *, name: str, version: str,
                 dtypes: Collection[str] = spec.DTYPES, flushes_subnormals: Collection[str] = (),
                 fixed_params: Mapping[str, Mapping[str, float]] | None = None,
                 array_parameters: bool = False, validate: Callable | None = None):
        unknown = [f for f in functions if f not in spec.FUNCTIONS]
        if unknown:
            raise ValueError(f"not spec functions: {unknown} (expected some of {list(spec.FUNCTIONS)})")
        self._binding, self._functions, self._validate = binding, dict(functions), validate
        self.name, self.version = name, version
        self.functions = tuple(self._functions)
        self.dtypes = tuple(d for d in spec.DTYPES if d in dtypes)
        self.flushes_subnormals = tuple(flushes_subnormals)
        self.fixed_params = {k: dict(v) for k, v in (fixed_params or {}).items()}
        self.array_parameters = array_parameters
        # The protocol reads a missing grad/dxx as "not provided" (hasattr).
        if getattr(binding, "differentiates", True):
            self.grad, self.dxx = self._grad, self._dxx

    def _free(self, function: str, params: Mapping) -> list[str]:
        """The parameters differentiated: all but the fixed ones."""
        fixed = self.fixed_params.get(function, {})
        return [p for p in spec.FUNCTIONS[function].param_names if p in params and p not in fixed]

    def _check(self, function, params):
        if self._validate is not None:
            self._validate(function, params)

    def value(self, function, x, params):
        return self._binding.value(self._functions[function], function, x, params, self._check)

    def _grad(self, function, x, params):
        self._check(function, params)
        return self._binding.grad(self._functions[function], function, x, dict(params), self._free(function, params))

    def _dxx(self, function, x, params):
        self._check(function, params)
        return self._binding.dxx(self._functions[function], function, x, dict(params))


def _table(f, function: str | None) -> dict[str, Callable]:
    if isinstance(f, Mapping):
        return dict(f)
    if function is None:
        raise TypeError("give function='<spec name>' (or a mapping {function: callable})")
    return {function: f}


def _describe(f, framework_version: str) -> tuple[str, str]:
    first = next(iter(f.values())) if isinstance(f, Mapping) else f
    module = getattr(first, "__module__", None) or type(first).__module__
    name = f"{module}.{getattr(first, '__qualname__', type(first).__qualname__)}"
    try:
        top = importlib.import_module(module.partition(".")[0])
        version = str(getattr(top, "__version__", "?"))
    except Exception:  # a module that cannot be re-imported: the version is only for show
        version = "?"
    return name, f"{module.partition('.')[0]} {version}, {framework_version}"


def _adapter(binding, f, function, framework_version, name=None, version=None, **options) -> Adapter:
    table = _table(f, function)
    default_name, default_version = _describe(f, framework_version)
    return Adapter(binding, table, name=name or default_name, version=version or default_version, **options)


# ----------------------------------------------------------------------------- NumPy
class _NumpyBinding:
    def __init__(self, grad, dxx):
        self._grad, self._dxx = grad, dxx
        self.differentiates = grad is not None or dxx is not None

    def value(self, f, function, x, params, check):
        return np.asarray(f(x, **params))

    def grad(self, f, function, x, params, names):
        if self._grad is None:
            return {}
        return {k: np.asarray(v) for k, v in _table(self._grad, function)[function](x, **params).items()}

    def dxx(self, f, function, x, params):
        return None if self._dxx is None else np.asarray(_table(self._dxx, function)[function](x, **params))


def numpy(f, function: str | None = None, *, grad=None, dxx=None, **options) -> Adapter:
    """A NumPy ``f(x, **params)``: values; partials and ∂²f/∂x² only from the ``grad``
    (returning {"x": ..., parameter: ...}) and ``dxx`` callables given (same form as ``f``)."""
    adapter = _adapter(_NumpyBinding(grad, dxx), f, function, f"numpy {np.__version__}", **options)
    if grad is None and dxx is not None:
        del adapter.grad
    if dxx is None and grad is not None:
        del adapter.dxx
    return adapter


# ----------------------------------------------------------------------------- PyTorch
class _TorchBinding:
    def __init__(self, device: str | None = None):
        import torch

        self.torch = torch
        self.device = torch.device(device or "cpu")

    def to_native(self, x: np.ndarray):
        """NumPy (ml_dtypes.bfloat16 included) to a tensor of the same dtype and bits."""
        x = np.array(x, copy=True, order="C")  # ascontiguousarray would turn 0-d into 1-d
        if x.dtype.name == "bfloat16":
            return self.torch.from_numpy(x.view(np.int16)).view(self.torch.bfloat16).to(self.device)
        return self.torch.from_numpy(x).to(self.device)

    def to_numpy(self, t, dtype: np.dtype) -> np.ndarray:
        t = t.detach().cpu()
        if t.dtype == self.torch.bfloat16:
            return t.view(self.torch.int16).numpy().view(dtype)
        return t.numpy()

    def value(self, f, function, x, params, check):
        with self.torch.no_grad():
            return self.to_numpy(f(self.to_native(x), **params), x.dtype)

    def grad(self, f, function, x, params, names):
        torch = self.torch
        xt = self.to_native(x).requires_grad_()
        tensors = {n: torch.full(xt.shape, params[n], dtype=xt.dtype, device=xt.device).requires_grad_()
                   for n in names}
        out = f(xt, **{**params, **tensors})
        grads = torch.autograd.grad(out.sum(), [xt, *tensors.values()], allow_unused=True)
        grads = [torch.zeros_like(xt) if g is None else g for g in grads]
        return {k: self.to_numpy(g, x.dtype) for k, g in zip(["x", *tensors], grads)}

    def dxx(self, f, function, x, params):
        torch = self.torch
        xt = self.to_native(x).requires_grad_()
        (fx,) = torch.autograd.grad(f(xt, **params).sum(), xt, create_graph=True)
        (fxx,) = torch.autograd.grad(fx.sum(), xt, allow_unused=True)
        return self.to_numpy(torch.zeros_like(xt) if fxx is None else fxx, x.dtype)


def torch(f, function: str | None = None, *, device: str | None = None, **options) -> Adapter:
    """A PyTorch ``f(x, **params)`` (tensors in and out); autograd gives the derivatives.
    ``device`` (default "cpu", e.g. "cuda") is where x and the parameter tensors live."""
    binding = _TorchBinding(device)
    framework = f"torch {binding.torch.__version__} on {binding.device}"
    return _adapter(binding, f, function, framework, **options)


# ----------------------------------------------------------------------------- JAX
class _JaxBinding:
    def __init__(self, x64: bool):
        import jax

        jax.config.update("jax_enable_x64", x64)
        self.jax, self.jnp = jax, jax.numpy
        self._compiled = {}

    def value(self, f, function, x, params, check):
        return np.asarray(f(self.jnp.asarray(x), **params))

    def _functions(self, f, function, names):
        """Jitted (x, *params) -> partials dict and -> ∂²f/∂x², parameters per element."""
        key = (id(f), function, tuple(names))
        if key not in self._compiled:
            jax, jnp = self.jax, self.jnp

            def total(x, fixed, *values):
                return jnp.sum(f(x, **fixed, **dict(zip(names, values))))

            def grad(x, fixed, *values):
                partials = jax.grad(total, argnums=(0, *range(2, 2 + len(names))))(x, fixed, *values)
                return dict(zip(("x", *names), partials))

            def dxx(x, fixed, *values):
                return jax.grad(lambda xx: jnp.sum(jax.grad(total)(xx, fixed, *values)))(x)

            self._compiled[key] = (jax.jit(grad), jax.jit(dxx))
        return self._compiled[key]

    def _arguments(self, x, params, names):
        xj = self.jnp.asarray(x)
        # Each parameter broadcast to x's shape, in x's dtype (the suite's parameters are
        # representable in it), so its gradient is the per-element partial.
        values = [self.jnp.full(x.shape, params[n], dtype=xj.dtype) for n in names]
        return xj, {k: v for k, v in params.items() if k not in names}, values

    def grad(self, f, function, x, params, names):
        xj, fixed, values = self._arguments(x, params, names)
        out = self._functions(f, function, names)[0](xj, fixed, *values)
        return {k: np.asarray(v) for k, v in out.items()}

    def dxx(self, f, function, x, params):
        names = list(params)
        xj, fixed, values = self._arguments(x, params, names)
        return np.asarray(self._functions(f, function, names)[1](xj, fixed, *values))


def jax(f, function: str | None = None, *, x64: bool = True, **options) -> Adapter:
    """A JAX ``f(x, **params)``; ``jax.grad`` (jitted) gives the derivatives. ``x64`` turns
    jax_enable_x64 on (the default) or off; off, float64 is not tested."""
    binding = _JaxBinding(x64)
    options.setdefault("dtypes", spec.DTYPES if x64 else tuple(d for d in spec.DTYPES if d != "float64"))
    version = f"jax {binding.jax.__version__}, x64 {'on' if x64 else 'off'}"
    return _adapter(binding, f, function, version, **options)


# ----------------------------------------------------------------------------- TensorFlow
def tensorflow(f, function: str | None = None, *, graph: bool = False,
               parameters: Mapping[str, str] | None = None, **options) -> Adapter:
    """A TensorFlow ``f(x, **params)`` or a Keras 3 layer (its variables are the parameters:
    each spec parameter is the layer variable of the same name, or ``parameters[name]``;
    the layer is rebuilt per dtype from its config). ``graph=True`` runs values and ∂²f/∂x²
    in ``tf.function`` graphs with tensor parameters (the path of a layer in ``model.fit``)."""
    from .tensorflow_binding import TensorFlowBinding

    binding = TensorFlowBinding(graph=graph)
    if binding.is_layer(f):
        f = binding.layer_function(f, function, parameters)
    return _adapter(binding, f, function, f"tensorflow {binding.tf.__version__}", **options)
