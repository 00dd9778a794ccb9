"""The input and parameter contract, as data: how x, the parameters, layers, compiled code,
training and repeated runs behave, the same in every backend. Re-exported as
``spec.INPUT_CONTRACT``; :mod:`sgblend_spec.checks` is its code."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Clause:
    """One clause of the input and parameter contract that every implementation follows.

    ``key`` is a stable identifier (tests name the clause they check), ``subject`` what it
    constrains, ``rule`` the behaviour, ``error`` the exception a violation raises ("" when
    none is raised), ``reason`` why.
    """

    key: str
    subject: str
    rule: str
    error: str
    reason: str


#: How x, the parameters, layers, compiled code, training and repeated runs behave, the same
#: in every backend (the NumPy reference included where it applies). Rendered on the docs
#: site; the contract tests (tests/contract, run against each backend with SGBLEND_TEST_BACKEND),
#: the per-backend tests and conformance/ check it.
INPUT_CONTRACT: tuple[Clause, ...] = (
    Clause(
        "x.dtype", "x",
        "x has dtype float16, bfloat16, float32 or float64 and the result has the same dtype. Any "
        "other dtype (integer, bool, complex) is rejected, never converted.",
        "TypeError",
        "a silent cast would pick a precision the caller did not ask for",
    ),
    Clause(
        "x.type", "x",
        "x is an array of the backend's framework (torch.Tensor, tf.Tensor or tf.Variable, "
        "jax.Array) or a NumPy array or scalar, which is converted with its dtype and values "
        "unchanged (on the CPU). Python numbers and sequences have no dtype and are rejected. "
        "JAX with jax_enable_x64 off cannot hold float64 and rejects float64 NumPy input.",
        "TypeError",
        "the frameworks give a Python float three different dtypes; an explicit dtype means the "
        "same thing everywhere",
    ),
    Clause(
        "x.shape", "x",
        "Any shape, 0-d and empty included; every output (value, each derivative) has x's shape. An "
        "empty x gives empty outputs and zero parameter gradients of the parameters' shapes. An "
        "element's results depend on its value only, not on its position, the array's shape or its "
        "neighbours, within the published ULP bound of each quantity: a framework's vectorised and "
        "scalar code paths (XLA's float64 exp, for one) may round an element differently at another "
        "position.",
        "",
        "an activation is elementwise",
    ),
    Clause(
        "x.layout", "x",
        "A strided, transposed or reversed view gives bitwise the same results as its contiguous copy.",
        "",
        "the result is a function of the values only",
    ),
    Clause(
        "x.special", "x",
        "±0, ±inf and NaN follow each function's special-value table for the value, every first "
        "derivative and ∂²f/∂x²; a NaN or inf element leaves every other element unchanged.",
        "",
        "the table is the spec's statement of the limits",
    ),
    Clause(
        "param.type", "parameters",
        "A parameter is a Python int or float, or a real floating array or scalar (the framework's "
        "or NumPy's; float16, bfloat16, float32 or float64). bool, complex, str and integer, bool "
        "or complex arrays (NumPy integer scalars included) are rejected.",
        "TypeError naming the parameter",
        "an integer or complex parameter is a caller's mistake, never a value to round",
    ),
    Clause(
        "param.domain", "parameters",
        "Every element lies in the parameter's domain (finite; β ≥ 0 for Swish, λ ≥ 1); checked "
        "on every eager call of a function and of a Keras or JAX layer. A torch module checks its "
        "parameters where they change (construction, loading, after each optimizer step through "
        "register_constraints, check_parameters_()), so that its forward reads nothing on the host "
        "(no device synchronisation); a parameter corrupted in between gives NaN outputs.",
        "ValueError naming the parameter, its domain and the offending value",
        "a NaN or out-of-domain parameter would otherwise surface as NaN far from its cause",
    ),
    Clause(
        "param.shape", "parameters",
        "A parameter is a scalar or an array that broadcasts to x's shape (NumPy rules), e.g. (C,) "
        "for channels last; the result keeps x's shape. A parameter that does not broadcast, or "
        "that would enlarge the result (x of shape (N,) with a parameter of shape (N, 1)), is "
        "rejected.",
        "ValueError naming the parameter and both shapes",
        "a broadcast that enlarges the output is a shape bug that training would hide",
    ),
    Clause(
        "param.dtype", "parameters",
        "Parameters of any floating dtype combine with x of any floating dtype: they are widened "
        "exactly to the working precision (float64; float32 in JAX with x64 off, where float64 "
        "NumPy and Python parameters are rounded to float32), the result has x's dtype, and a "
        "parameter's gradient has that parameter's dtype and shape (summed over the broadcast "
        "dimensions).",
        "",
        "mixed precision training keeps float32 weights next to float16 activations",
    ),
    Clause(
        "param.names", "parameters",
        "Parameters are passed by their spec names; an unknown name is rejected.",
        "TypeError",
        "a misspelt parameter would silently take its default",
    ),
    Clause(
        "layer.init", "layers",
        "An explicit initial value is a Python int or float (or a NumPy floating scalar) inside the layer "
        "constraint where the parameter has one (α ∈ [-1, 1], β ∈ [0.1, 10]) and inside its domain "
        "otherwise (γ finite, λ ≥ 1). The layer's parameter dtype is a real floating dtype.",
        "TypeError or ValueError naming the parameter and its allowed range",
        "a layer must start where its constraint keeps it",
    ),
    Clause(
        "layer.load", "layers",
        "Loading parameters (torch load_state_dict and import_parameters, Keras set_weights, "
        "load_weights and load_model, JAX import_parameters and apply) checks each trainable "
        "parameter: real floating dtype, the layer's shape, every element finite and mapping into "
        "the function's domain (λ = 1 + ρ² finite). The layer constraint is not enforced on load.",
        "TypeError or ValueError naming the parameter",
        "the authors' layer holds β from U(-√3, √3) until its first update, so a checkpoint saved "
        "then holds β ≤ 0 and must load",
    ),
    Clause(
        "compiled", "compiled code",
        "Inside compiled or traced code (torch.compile, tf.function, jax.jit) a tensor parameter's "
        "value cannot be read on the host. An out-of-domain value raises where the framework can "
        "raise from compiled code (torch.compile: RuntimeError from torch._assert_async; "
        "tf.function without XLA: InvalidArgumentError from tf.debugging.Assert) and otherwise "
        "(tf.function(jit_compile=True), jax.jit) makes every element of the value and of every "
        "derivative NaN, which checkify's nan_checks, jax_debug_nans or "
        "tf.debugging.enable_check_numerics turn into an error. Type, dtype, shape and "
        "Python-number checks run at trace time as in eager mode.",
        "RuntimeError, InvalidArgumentError, or NaN everywhere",
        "a compiled graph cannot raise on data under XLA; NaN everywhere is never mistaken for a number",
    ),
    Clause(
        "training", "training",
        "Layers keep their parameters in their domains: α and β are projected after every optimizer "
        "step (Keras constraints; torch register_constraints; JAX constraints / project) and "
        "λ = 1 + ρ² ≥ 1 by construction. 1000 steps of Adam at lr = 1 and of SGD at lr = 10 on "
        "random data leave every parameter finite and in its constraint and every output finite.",
        "",
        "a learned activation must not drift into a region where it is undefined",
    ),
    Clause(
        "determinism", "repeated runs",
        "The same inputs give bitwise the same value and gradients on repeated calls and with one "
        "or two CPU threads. Values and x-gradients are elementwise; a parameter's gradient is a sum "
        "over x, which torch and XLA would split among threads, so the backends sum it in fixed "
        "blocks of 1024 elements instead (torch numerics.sum_to_shape; JAX numerics.blocked_broadcast_to, "
        "whose transpose is that blocked sum).",
        "",
        "reproducible training needs a reproducible activation",
    ),
)
