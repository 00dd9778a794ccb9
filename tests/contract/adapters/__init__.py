"""One small adapter per framework: what the contract tests need, through the public API of
``sgblend_spec.backends.<framework>`` only. A framework is imported when its adapter is
built, never when this module is (einops' ``_backends.py`` style).

Every adapter returns results as NumPy arrays (bfloat16 as ``ml_dtypes.bfloat16``), so the
tests compare dtypes, shapes and bit patterns without knowing the framework. One module per
framework (``torch``, ``tensorflow``, ``jax``) holds its adapter.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from types import SimpleNamespace

import ml_dtypes
import numpy as np

from sgblend_spec import hardening, spec

NUMPY_DTYPES = {"float16": np.dtype(np.float16), "bfloat16": np.dtype(ml_dtypes.bfloat16),
                "float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}
#: The learnable layers the stress test trains, in neutral keywords (``channels`` = per-channel).
LEARNABLE = {
    "SSwish": ("SSwish", {}),
    "SGBlend": ("SGBlend", {}),
    "SGBlend-exact": ("SGBlend", {"gelu": "exact"}),
    "SGBlend-tanh-per-channel": ("SGBlend", {"gelu": "tanh", "beta": 1.0, "channels": 16}),
    "SGBlend-direct-alpha": ("SGBlend", {"alpha_parameterization": "direct"}),
    "LambdaGELU": ("LambdaGELU", {}),
    "LambdaGELU-per-channel": ("LambdaGELU", {"channels": 16}),
}
SGBLEND_VARIANTS = {None: "sgblend", "sigmoid": "sgblend", "exact": "sgblend_gelu", "tanh": "sgblend_gelu_tanh"}
TARGET = hardening.target_lam(0.01)  # 16.997…: ReLU substitution moves each unit by ≤ 0.01


class Unsupported(Exception):
    """A layer option this framework's API does not have (the test is skipped, saying so)."""


def bits(a: np.ndarray) -> np.ndarray:
    """Bit patterns (every NaN one pattern), for bitwise comparisons."""
    a = np.asarray(a)
    out = a.view(f"u{a.dtype.itemsize}").copy()
    out[np.isnan(a.astype(np.float64))] = 0
    return out


def sgd_task(seed: int, n: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """The recipe tests' 2-D regression task, float32."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n, 2)).astype(np.float32)
    return x, (np.sin(2 * x[:, :1]) * np.cos(x[:, 1:]) + 0.3 * x[:, :1]).astype(np.float32)


def normal_quantiles(columns: int, n: int = 20_000) -> np.ndarray:
    """Each of ``columns`` channels fed the same N(0, 1) quantiles (float64)."""
    from scipy.special import ndtri

    return np.repeat(ndtri((np.arange(n) + 0.5) / n)[:, None], columns, axis=1)


class Adapter:
    name: str
    modes: tuple[str, ...] = ("",)  # ways to run a mode-parametrised test (JAX: x64 on and off)
    channel_axis = -1
    has_strides = False
    #: float64 x below which the SiLU tail is checked (TensorFlow and XLA flush subnormal float64 to 0).
    tail_points = {"float64": [-700.0, -705.0, -708.0], "float32": [-88.0, -100.0, -103.0],
                   "float16": [-9.5, -15.0, -17.0]}
    threads_need_two_cpus = True
    constructor_names_quoted = False  # whether a constructor's error quotes the parameter: 'beta'
    determinism_modes = ("eager",)  # JAX: eager and jitted

    def __init__(self):
        from importlib import import_module

        self.api = import_module(f"sgblend_spec.backends.{self.name}")

    # ----------------------------------------------------------------- setup
    @staticmethod
    def pin_threads(n: int) -> None:
        """Before the framework is imported: run its kernels on ``n`` threads."""

    def set_threads(self, n: int) -> None:
        """After the import."""

    def setup(self, monkeypatch) -> None:
        """Per test: the state every contract test starts from."""

    def mode(self, mode: str):
        return contextlib.nullcontext()

    def float64(self):
        """A context in which float64 arrays exist (JAX: x64 on)."""
        return contextlib.nullcontext()

    # ----------------------------------------------------------------- arrays and functions
    def native(self, values):
        """The framework's own conversion of Python values (its default int/float/complex dtype)."""
        raise NotImplementedError

    def from_numpy(self, a: np.ndarray):
        raise NotImplementedError

    def array(self, values, dtype: str):
        return self.from_numpy(np.asarray(values, np.float64).astype(NUMPY_DTYPES[dtype]))

    def to_numpy(self, t) -> np.ndarray:
        return np.asarray(t)

    def is_native(self, t) -> bool:
        raise NotImplementedError

    def call(self, name: str, x, **params):
        return getattr(self.api, name)(x, **params)

    def value_and_grads(self, name: str, x, params: dict, jit: bool = False) -> list[np.ndarray]:
        """f and the gradients of sum(f) in x and in every native-array parameter."""
        raise NotImplementedError

    #: The compilers a function call runs under in this framework (test_compensation).
    compilers: tuple[str, ...] = ("eager",)

    def compiled(self, compiler: str, function: str, quantity: str, x: np.ndarray, params: dict,
                 precision: str) -> np.ndarray:
        """One quantity ("value", "x" or a parameter name) of ``function`` at the NumPy array
        ``x``, parameters as scalar arrays of x's dtype, evaluated under ``compiler``:
        elementwise, and for a parameter the gradient of Σ w·f with w = (1, 0, 0, ...), i.e.
        the partial at x[0] alone (no sum that would round)."""
        raise NotImplementedError

    def parameter_forms(self, bad: float, default: float) -> list:
        """A bad parameter value in every form a call accepts."""
        return [bad, self.native(bad), self.native([default, bad, default]), self.native([default, default, bad]),
                np.array([default, bad, default], np.float32)]

    def transpose(self, x):
        return x.T

    def broadcast_to(self, x, shape):
        raise NotImplementedError

    def is_contiguous(self, x) -> bool:
        return True

    def contiguous(self, x):
        return x

    def tail_gradient(self, dtype: str, xs: list[float], precision: str = "exact") -> np.ndarray:
        _, dx = self.value_and_grads("swish", self.array(xs, dtype), {"beta": 1.0, "precision": precision})
        return dx

    # ----------------------------------------------------------------- layers
    def constructors(self, cls: str) -> list:
        """Every way to build layer ``cls`` (neutral keywords) that checks its arguments."""
        return [lambda **kwargs: self.layer(cls, **kwargs)]

    def dtype_error(self, dtype: str) -> str:
        return "dtype"

    def layer(self, cls: str, channels: int | None = None, **kwargs):
        raise NotImplementedError

    def assign(self, layer, raw: str, values: list[float]) -> None:
        raise NotImplementedError

    #: Whether a layer's call checks its parameters (ValueError); else ``check_layer`` does.
    layers_check_at_call = True

    def check_layer(self, layer) -> None:
        raise Unsupported("this backend's layers check their parameters at call time")

    def call_layer(self, layer, x) -> np.ndarray:
        return self.to_numpy(layer(x))

    def checkpoint(self, layer, tmp_path):
        """Save ``layer`` the framework's way and load it: (loaded call, {raw: NumPy value})."""
        raise NotImplementedError

    def stress_train(self, key: str, optimizer: str, steps: int):
        """Train LEARNABLE[key] in dense-activation-dense on random data: per step (outputs
        finite, {raw parameter (and lam where the API exposes λ): NumPy value}), and whether
        the final outputs are finite."""
        raise NotImplementedError

    # ----------------------------------------------------------------- recipe
    def hardening_schedule(self, lam_target, ramp_steps, start_step=0):
        raise NotImplementedError

    def lambda_update(self, preactivation_std):
        raise NotImplementedError

    def sgd_step_log_lambda(self, lams: list[float], rule: bool) -> np.ndarray:
        """One SGD step (lr 1e-3, L = −Σ mean f) on per-channel λ fed N(0, 1) quantiles, with or
        without the λ-aware update: Δ log(λ − 1) per channel."""
        raise NotImplementedError

    def relu_substitution(self) -> tuple[SimpleNamespace, SimpleNamespace]:
        """A small λ-GELU MLP trained twice from one start, plain and hardened to TARGET,
        then its λ-GELUs replaced by ReLU: per run loss, max_abs_change, and where the API
        reports them unit_bound and relative_change; plus unit_bound_rtol."""
        raise NotImplementedError

    # ----------------------------------------------------------------- determinism
    def determinism_hashes(self, x64: np.ndarray) -> dict[str, str]:
        out = {}
        for dtype in ("float32", "float64", "bfloat16"):
            x = self.array(x64, dtype)
            for name in ("sgblend", "sgblend_gelu", "lambda_gelu", "sswish"):
                names = spec.FUNCTIONS[name].param_names
                params = {k: self.array(spec.FUNCTIONS[name].defaults[k] + 0.3, dtype) for k in names}
                for mode in self.determinism_modes:
                    results = self.value_and_grads(name, x, params, jit=mode == "jit")
                    for label, t in zip(["value", "x", *names], results):
                        out[f"{dtype}:{name}:{mode}:{label}"] = hashlib.sha256(t.tobytes()).hexdigest()
        x = self.array(x64.reshape(-1, 64), "float32")
        values = spec.FUNCTIONS["sgblend"].defaults
        channel = {k: self.array(np.full(64, values[k] + 0.3), "float32") for k in values}
        for mode in self.determinism_modes:
            results = self.value_and_grads("sgblend", x, channel, jit=mode == "jit")
            for label, t in zip(channel, results[2:]):
                out[f"float32:sgblend per channel:{mode}:{label}"] = hashlib.sha256(t.tobytes()).hexdigest()
        return out


def check_options(cls: str, kwargs: dict, allowed: set[str]) -> None:
    unknown = set(kwargs) - allowed
    if unknown:
        raise Unsupported(f"{cls} has no option {sorted(unknown)} here")


BACKENDS = ("torch", "tensorflow", "jax")


def adapter_class(backend: str) -> type[Adapter]:
    """The adapter class of ``backend`` (its module imports no framework)."""
    from importlib import import_module

    module = import_module(f"{__name__}.{backend}")
    return next(v for v in vars(module).values() if isinstance(v, type) and issubclass(v, Adapter) and v is not Adapter)


def determinism_main(backend: str, n: int) -> None:
    """Print the hashes of every output, twice, computed on ``n`` CPUs (a fresh interpreter)."""
    available = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, set(available[:n]))
    cls = adapter_class(backend)
    cls.pin_threads(n)
    adapter = cls()
    adapter.set_threads(n)
    x64 = np.random.default_rng(3).standard_normal(1 << 19) * 5  # JAX: above 4 * CPU_CHUNK, the chunked loop too
    with adapter.float64():
        print(json.dumps({"first": adapter.determinism_hashes(x64), "again": adapter.determinism_hashes(x64)}))
