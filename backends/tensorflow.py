"""TensorFlow / Keras 3 binding: functional API with ``tf.custom_gradient``, Keras layers.

Every value and derivative comes from :mod:`sgblend_spec.formulas`, evaluated through the
TensorFlow :data:`NAMESPACE`; nothing here restates a formula.

Functional API (one function per spec name; parameters are Python numbers or floating
tensors/variables that broadcast against ``x``)::

    swish(x, beta)    gelu(x)    gelu_tanh(x)    gelu_sigmoid(x)    sswish(x, beta, gamma)
    sgblend(x, alpha, beta, gamma)    sgblend_gelu(...)    sgblend_gelu_tanh(...)    lambda_gelu(x, lam)

Numerics. float16, bfloat16 and float32 inputs are evaluated in float64 and rounded once to
the input dtype (bfloat16 and float16 through a round-to-odd float32 step, so the rounding
really is single); float64 is evaluated natively. The result has the dtype of ``x`` whatever
the parameters' dtype; a parameter's gradient has that parameter's dtype and shape (summed,
in float64, over the dimensions it was broadcast along, then rounded once).

Subnormals. TensorFlow runs its CPU kernels (and XLA its CPU code) with flush-to-zero and
denormals-are-zero set, so ``tf.cast`` turns a subnormal float32 or bfloat16 into 0 and a
float64 result in float32's subnormal range into 0. The widening and the final rounding are
therefore done on the bit patterns (integer ops) wherever a subnormal can occur, which keeps
float32/bfloat16 subnormal inputs and outputs exact. float64 itself is evaluated with
TensorFlow's flushing: float64 subnormal inputs act as 0 and results below 2.2e-308 are 0.

Autodiff. Each spec function is one ``tf.custom_gradient`` op that keeps only ``x`` and the
parameters for the backward pass. Its gradient evaluates the spec's ``*_grad`` formulas and
is itself a ``tf.custom_gradient`` op, so nested ``GradientTape``s give second derivatives:
∂²f/∂x² from the spec's ``*_dxx`` formula; the mixed and parameter-parameter terms from
TensorFlow autodiff through the ``*_grad`` formulas (in float64). At x = ±inf those mixed
terms can be NaN (autodiff's inf·0); ∂²f/∂x² is exact there.

Parameter checks. In eager mode every parameter is checked against its spec domain on each
call (a bad one raises ValueError naming it and its interval, from :func:`spec.validate`).
Inside a ``tf.function`` graph a tensor parameter is checked by a ``tf.debugging.Assert``
(InvalidArgumentError at run time, naming the parameter). Under ``jit_compile=True`` XLA
drops Assert ops; there an out-of-domain tensor parameter makes every element of the result
and of every derivative NaN (never a number; ``tf.debugging.enable_check_numerics`` turns it
into an error). Python-number and NumPy parameters, ``x``'s type and dtype and the shapes are
always checked, at trace time. The whole input contract is ``spec.INPUT_CONTRACT``: ``x`` is
a tensor, variable or NumPy array (Python numbers and lists are a TypeError); a parameter
broadcasts to x's shape; Keras loading (``set_weights``, ``load_weights``, ``load_model``)
checks each weight.

Keras layers (registered serializable under the package "sgblend_spec"): :class:`Swish`,
:class:`GELU`, :class:`SSwish`, :class:`SGBlend`, :class:`LambdaGELU`, and the
:class:`Clip` constraint. ``SGBlend()`` is the authors' released layer; see its docstring.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import replace

import keras
import numpy as np
import tensorflow as tf

from sgblend_spec import checks, formulas, spec
from sgblend_spec import hardening as _hardening
from sgblend_spec._namespace import Namespace

__all__ = [
    "export_parameters",
    "NAMESPACE",
    *spec.FUNCTIONS,
    "Clip",
    "Swish",
    "GELU",
    "SSwish",
    "SGBlend",
    "LambdaGELU",
    # λ-GELU training recipe and activation swap (section at the end of this file)
    "register_lambda_update",
    "HardeningCallback",
    "swap_activations",
    "relu_ize",
]

_WORKING = tf.float64
_SUPPORTED = (tf.float16, tf.bfloat16, tf.float32, tf.float64)
_PARAM_NAMES = {name: record.param_names for name, record in spec.FUNCTIONS.items()}
_FORMULAS = {name: formulas.FORMULAS[name] for name in spec.FUNCTIONS}


# ----------------------------------------------------------------------------- namespace
def _where(cond, a, b):
    """tf.where that accepts a Python number for one branch by giving it the other branch's
    dtype (tf.where would make it float32)."""
    if not isinstance(a, (tf.Tensor, tf.Variable)):
        a = tf.constant(a, dtype=b.dtype)
    if not isinstance(b, (tf.Tensor, tf.Variable)):
        b = tf.constant(b, dtype=a.dtype)
    return tf.where(cond, a, b)


#: The TensorFlow array namespace the formulas are evaluated with.
NAMESPACE = Namespace(
    name="tensorflow",
    exp=tf.exp,
    expm1=tf.math.expm1,
    log1p=tf.math.log1p,
    erfc=tf.math.erfc,
    abs=tf.abs,
    where=_where,
    finite=lambda a: tf.clip_by_value(a, -a.dtype.max, a.dtype.max),
)


def _abs_with_right_derivative(u):
    """|u| whose autodiff derivative at u = 0 is +1, not tf.abs's 0.

    The formulas take the ``u >= 0`` branch at 0 and build it from e^(-|u|); with a zero
    derivative of |u| there, autodiff would report σ'(0) = 0 instead of 1/4.
    """
    return tf.where(u >= 0, u, -u)


#: The namespace used when autodiff differentiates the formulas (mixed second derivatives).
_DIFFERENTIABLE = replace(NAMESPACE, name="tensorflow-differentiable", abs=_abs_with_right_derivative)


# ----------------------------------------------------------------------------- exact widening / single rounding
_F32_EXPONENT = 0x7F800000
_F32_MANTISSA = 0x007FFFFF
_F32_SIGN = -(2**31)  # int32 with only the sign bit set
_F32_SUBNORMAL_UNIT = 2.0**-149  # value of the last mantissa bit of a float32 subnormal
_F32_MIN_NORMAL = 2.0**-126


def _float32_bits_to_working(bits: tf.Tensor) -> tf.Tensor:
    """float64 value of float32 bit patterns, exact for subnormals too.

    tf.cast(float32 -> float64) reads a subnormal as 0 (DAZ); a subnormal is
    sign·mantissa·2^-149, which is computed from the integer mantissa instead.
    """
    normal = tf.cast(tf.bitcast(bits, tf.float32), _WORKING)
    mantissa = tf.cast(tf.bitwise.bitwise_and(bits, _F32_MANTISSA), _WORKING) * _F32_SUBNORMAL_UNIT
    subnormal = tf.where(bits < 0, -mantissa, mantissa)  # ±0 stays signed
    is_subnormal = tf.equal(tf.bitwise.bitwise_and(bits, _F32_EXPONENT), 0)
    return tf.where(is_subnormal, subnormal, normal)


def _to_working(t: tf.Tensor) -> tf.Tensor:
    """``t`` as float64, exactly (subnormal float32/bfloat16 included)."""
    if t.dtype == _WORKING:
        return t
    if t.dtype == tf.float16:
        return tf.cast(t, _WORKING)  # float16 subnormals are normal in float32: no DAZ issue
    if t.dtype == tf.bfloat16:
        t = tf.cast(t, tf.float32)  # a bit shift in TensorFlow, subnormals kept
    return _float32_bits_to_working(tf.bitcast(t, tf.int32))


def _float32_tiny_bits(r: tf.Tensor, to_odd: bool) -> tf.Tensor:
    """int32 float32 bits of a float64 ``r`` with |r| < 2^-126, rounded on the subnormal grid
    (to nearest even, or to odd). A mantissa of 2^23 is the smallest normal: still right."""
    scaled = tf.abs(r) * (1.0 / _F32_SUBNORMAL_UNIT)  # exact: a power-of-two scaling
    if to_odd:
        whole = tf.floor(scaled)
        mantissa = tf.cast(whole, tf.int32)
        mantissa = tf.where(whole != scaled, tf.bitwise.bitwise_or(mantissa, 1), mantissa)
    else:
        mantissa = tf.cast(tf.round(scaled), tf.int32)  # tf.round: half to even
    negative = tf.bitcast(r, tf.int64) < 0  # the sign bit, -0.0 included
    return tf.where(negative, tf.bitwise.bitwise_or(mantissa, _F32_SIGN), mantissa)


def _round_to_odd_float32(r: tf.Tensor) -> tf.Tensor:
    """float64 -> float32 rounded to odd (truncate, set the last bit if anything was cut).

    Rounding that once more to float16/bfloat16 is then a correct single rounding, because
    float32 keeps more than two extra bits.
    """
    as32 = tf.cast(r, tf.float32)
    back = tf.cast(as32, _WORKING)
    bits = tf.bitcast(as32, tf.int32)
    inexact = tf.logical_and(back != r, tf.math.is_finite(as32))
    # One step toward zero in magnitude is bits - 1 for either sign (sign-magnitude format).
    rounded_up = tf.cast(tf.abs(back) > tf.abs(r), tf.int32)
    odd = tf.bitwise.bitwise_or(bits - rounded_up, 1)
    normal = tf.where(inexact, odd, bits)
    tiny = tf.abs(r) < _F32_MIN_NORMAL
    return tf.bitcast(tf.where(tiny, _float32_tiny_bits(r, to_odd=True), normal), tf.float32)


def _round_once(r: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    """Round a float64 ``r`` to ``dtype`` with a single rounding (subnormals kept)."""
    if dtype == _WORKING:
        return r
    if dtype == tf.float32:
        normal = tf.bitcast(tf.cast(r, tf.float32), tf.int32)
        tiny = tf.abs(r) < _F32_MIN_NORMAL
        return tf.bitcast(tf.where(tiny, _float32_tiny_bits(r, to_odd=False), normal), tf.float32)
    return tf.cast(_round_to_odd_float32(r), dtype)


def _sum_to(t: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Sum ``t`` over the dimensions along which ``target`` was broadcast to ``t``'s shape."""
    if t.shape.is_fully_defined() and target.shape.is_fully_defined():
        if t.shape == target.shape:
            return t
        lead = t.shape.rank - target.shape.rank
        axes = list(range(lead)) + [
            lead + i for i, d in enumerate(target.shape) if d == 1 and t.shape[lead + i] != 1
        ]
        return tf.reshape(tf.reduce_sum(t, axis=axes), target.shape)
    axes, _ = tf.raw_ops.BroadcastGradientArgs(s0=tf.shape(target), s1=tf.shape(t))
    return tf.reshape(tf.reduce_sum(t, axis=axes), tf.shape(target))


def _full(t: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """``t`` broadcast against ``like`` (partials such as ∂γ = -1 are already full-shaped)."""
    return t * tf.ones_like(like) if t.shape != like.shape else t


# ----------------------------------------------------------------------------- the ops
def _make_op(name: str, needs: tuple[bool, ...]):
    """The custom-gradient op of spec function ``name``; ``needs[i]`` says whether parameter
    i is a tensor the caller may differentiate (Python numbers get no gradient)."""
    param_names = _PARAM_NAMES[name]
    value_formula, grad_formula, dxx_formula = _FORMULAS[name]
    wanted = [n for n, need in zip(param_names, needs) if need]

    def working(x, params):
        return _to_working(x), {n: _to_working(p) for n, p in zip(param_names, params)}

    @tf.custom_gradient
    def backward(dy, x, *params):
        """(dy·∂f/∂x, dy·∂f/∂p for each wanted p), reduced to each input's shape and dtype."""
        x64, p64 = working(x, params)
        g = _to_working(dy)
        partials = grad_formula(NAMESPACE, x64, **p64)
        targets = dict(zip(param_names, params))
        outputs = [_round_once(_sum_to(g * partials["x"], x), x.dtype)]
        outputs += [_round_once(_sum_to(g * partials[n], targets[n]), targets[n].dtype) for n in wanted]

        def second(*upstream):
            """Vector-Hessian products: the first backward gave G_x = Σ g·f_x, G_p = Σ g·f_p.
            With upstream v_x, v_p: ∂/∂g = f_x·v_x + Σ f_p·v_p; ∂/∂x = g·(f_xx·v_x + Σ f_px·v_p);
            ∂/∂q = g·(f_xq·v_x + Σ f_pq·v_p). f_xx is the spec's dxx formula, the mixed terms
            autodiff through the spec's grad formula (float64)."""
            v = {key: None if u is None else _to_working(u) for key, u in zip(["x", *wanted], upstream)}
            v_p = {n: v[n] for n in wanted if v[n] is not None}
            # TensorFlow hands zeros (not None) as the upstream of a parameter output nobody
            # used, e.g. in ∂²f/∂x² by nested tapes with a layer's variables. Where every v_p
            # is 0 the parameter terms are 0, not ∞·0 = NaN at x = ±inf: they are evaluated
            # at x = 0 there (``unless_quiet``), and dropped.
            if v_p:
                quiet = tf.reduce_all(tf.stack([tf.equal(_full(u, x64), 0) for u in v_p.values()]), axis=0)

            def unless_quiet(t):
                return tf.where(quiet, tf.zeros_like(x64), _full(t, x64))

            d_dy = None
            terms = ([partials["x"] * v["x"]] if v["x"] is not None else []) + [
                unless_quiet(partials[n] * u) for n, u in v_p.items()]
            if terms:
                d_dy = _round_once(_sum_to(_full(tf.add_n(terms) if len(terms) > 1 else terms[0], g), dy), dy.dtype)

            with tf.GradientTape(persistent=True) as tape:
                tape.watch(x64)
                tape.watch([p64[n] for n in wanted])
                diff = grad_formula(_DIFFERENTIABLE, x64, **p64)
                across = None
                if v_p:
                    diff_p = grad_formula(_DIFFERENTIABLE, unless_quiet(x64), **p64)
                    across = tf.add_n([tf.reduce_sum(unless_quiet(g * diff_p[n] * u)) for n, u in v_p.items()])
                along = tf.reduce_sum(g * diff["x"] * v["x"]) if v["x"] is not None else None
            sources = [x64] + [p64[n] for n in wanted]
            total = [None] * len(sources)

            def add(i, d):
                if d is not None:
                    total[i] = d if total[i] is None else total[i] + d

            if across is not None:
                for i, d in enumerate(tape.gradient(across, sources)):
                    add(i, d)
            if along is not None:
                if wanted:
                    for i, d in enumerate(tape.gradient(along, sources[1:]), start=1):
                        add(i, d)
                add(0, _sum_to(_full(g * dxx_formula(NAMESPACE, x64, **p64) * v["x"], g), x64))
            del tape

            # The tape's gradients already have their source's shape.
            inputs = [x] + [targets[n] for n in wanted]
            rounded = [None if d is None else _round_once(d, target.dtype) for d, target in zip(total, inputs)]
            by_name = dict(zip(wanted, rounded[1:]))
            return [d_dy, rounded[0], *(by_name.get(n) for n in param_names)]

        return outputs, second

    @tf.custom_gradient
    def op(x, *params):
        x64, p64 = working(x, params)
        y = _round_once(value_formula(NAMESPACE, x64, **p64), x.dtype)

        def first(dy):
            grads = backward(dy, x, *params)
            by_name = dict(zip(wanted, grads[1:]))
            return [grads[0], *(by_name.get(n) for n in param_names)]

        return y, first

    return op


_OPS: dict[tuple[str, tuple[bool, ...]], object] = {}


def _op(name: str, needs: tuple[bool, ...]):
    key = (name, needs)
    if key not in _OPS:
        _OPS[key] = _make_op(name, needs)
    return _OPS[key]


# ----------------------------------------------------------------------------- checking
def _is_tensor(value: object) -> bool:
    return isinstance(value, (tf.Tensor, tf.Variable)) or hasattr(value, "__tf_tensor__")


def _check_x(function: str, x: object) -> tf.Tensor:
    """x as a tensor of a supported dtype (spec.INPUT_CONTRACT "x.type", "x.dtype").

    TensorFlow tensors and variables (Keras variables included) and NumPy arrays or scalars
    are accepted with their dtype; Python numbers and lists are a TypeError.
    """
    if isinstance(x, (np.ndarray, np.generic)):
        checks.check_x_dtype(function, np.asarray(x).dtype.name)
    elif not _is_tensor(x):
        raise checks.x_type_error(function, x, "TensorFlow")
    t = tf.convert_to_tensor(x)
    checks.check_x_dtype(function, t.dtype.name)
    return t


def _domain_condition(parameter: spec.Parameter, t64: tf.Tensor) -> tf.Tensor:
    domain = parameter.domain
    ok = tf.math.is_finite(t64)
    if math.isfinite(domain.lo):
        ok &= t64 >= domain.lo if domain.lo_closed else t64 > domain.lo
    if math.isfinite(domain.hi):
        ok &= t64 <= domain.hi if domain.hi_closed else t64 < domain.hi
    return tf.reduce_all(ok)


def _check_shape(function: str, name: str, shape: tf.TensorShape, x_shape: tf.TensorShape) -> None:
    """spec.check_parameter_shape on the static shapes, as far as they are known (an unknown
    dimension of x is taken to match, an unknown one of the parameter to be 1)."""
    if shape.rank is None or x_shape.rank is None:
        return
    p, x = [1 if d is None else d for d in shape.as_list()], x_shape.as_list()
    for i in range(1, min(len(p), len(x)) + 1):
        if x[-i] is None:
            x[-i] = p[-i]
    checks.check_parameter_shape(function, name, tuple(p), tuple(1 if d is None else d for d in x))


def _prepare(function: str, parameter: spec.Parameter, value: object, x: tf.Tensor) -> tuple[tf.Tensor, bool, object]:
    """(the parameter as a tensor, whether it may need a gradient, its in-graph domain
    condition or None), checked as spec.INPUT_CONTRACT "param.*" says.

    NumPy values are checked on the host, always; a tensor is checked on the host in eager
    mode (ValueError) and by a ``tf.debugging.Assert`` in a graph (InvalidArgumentError),
    whose condition the caller also uses for the NaN policy under XLA, which drops Asserts.
    """
    if isinstance(value, np.ndarray) or (isinstance(value, np.generic) and not isinstance(value, np.floating)):
        arr = np.asarray(value)
        if arr.dtype.kind != "f" and arr.dtype.name != "bfloat16":
            raise TypeError(
                f"{function}: parameter '{parameter.name}' must be real floating point, got dtype {arr.dtype}"
            )
        checks.validate(function, {parameter.name: arr})  # raises, naming the parameter
        checks.check_parameter_shape(function, parameter.name, arr.shape, tuple(x.shape))
        return tf.convert_to_tensor(arr), False, None
    if _is_tensor(value):
        t = tf.convert_to_tensor(value)
        if not t.dtype.is_floating:
            raise TypeError(
                f"{function}: parameter '{parameter.name}' must be real floating point, got dtype {t.dtype.name}"
            )
        condition = None
        if tf.executing_eagerly():
            values = _to_working(t).numpy().ravel()
            if values.size:
                ok = np.isfinite(values)
                domain = parameter.domain
                if math.isfinite(domain.lo):
                    ok &= values >= domain.lo if domain.lo_closed else values > domain.lo
                if math.isfinite(domain.hi):
                    ok &= values <= domain.hi if domain.hi_closed else values < domain.hi
                if not ok.all():
                    checks.validate(function, {parameter.name: float(values[~ok][0])})  # raises
        else:
            message = f"{function}: parameter '{parameter.name}' must be a finite value in {parameter.domain}"
            condition = _domain_condition(parameter, tf.cast(t, _WORKING))
            tf.debugging.Assert(condition, [message], name=parameter.name)
        _check_shape(function, parameter.name, t.shape, x.shape)
        return t, True, condition
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{function}: parameter '{parameter.name}' must be a real number or a floating-point "
            f"tensor, got {type(value).__name__}"
        )
    value = checks.validate(function, {parameter.name: float(value)})[parameter.name]
    return tf.constant(value, dtype=_WORKING), False, None


@tf.custom_gradient
def _nan_unless(ok: tf.Tensor, x: tf.Tensor):
    """x where ``ok`` holds, NaN everywhere otherwise; its gradient likewise (NaN, never 0).

    A select, not arithmetic, so subnormal x survive TensorFlow's flush-to-zero.
    """
    nan = tf.constant(math.nan, x.dtype)

    def grad(dy):
        return None, tf.where(ok, dy, nan)

    return tf.where(ok, x, nan), grad


def _apply(function: str, x: object, params: dict[str, object]) -> tf.Tensor:
    x = _check_x(function, x)
    record = spec.FUNCTIONS[function]
    params = record.bind(params)  # unknown names are a TypeError
    prepared = [_prepare(function, p, params[p.name], x) for p in record.params]
    conditions = [c for _, _, c in prepared if c is not None]
    if conditions:
        # In a graph the Asserts raise at run time, except under XLA, which drops them: there
        # an out-of-domain parameter makes every output and derivative NaN (INPUT_CONTRACT
        # "compiled") instead of a number.
        x = _nan_unless(tf.reduce_all(tf.stack(conditions)), x)
    needs = tuple(need for _, need, _ in prepared)
    return _op(function, needs)(x, *(t for t, _, _ in prepared))


# ----------------------------------------------------------------------------- functional API
_D = {name: record.defaults for name, record in spec.FUNCTIONS.items()}


def swish(x, beta=_D["swish"]["beta"]) -> tf.Tensor:
    """Swish-β: x·σ(βx), β ≥ 0 (β = 1 is SiLU)."""
    return _apply("swish", x, {"beta": beta})


def gelu(x) -> tf.Tensor:
    """Exact GELU: x·Φ(x), Φ(x) = erfc(-x/√2)/2."""
    return _apply("gelu", x, {})


def gelu_tanh(x) -> tf.Tensor:
    """tanh GELU: ½x(1 + tanh(√(2/π)(x + 0.044715x³)))."""
    return _apply("gelu_tanh", x, {})


def gelu_sigmoid(x) -> tf.Tensor:
    """Sigmoid GELU: x·σ(1.702x)."""
    return _apply("gelu_sigmoid", x, {})


def sswish(x, beta=_D["sswish"]["beta"], gamma=_D["sswish"]["gamma"]) -> tf.Tensor:
    """SSwish: x·σ(βx) - γ."""
    return _apply("sswish", x, {"beta": beta, "gamma": gamma})


def sgblend(x, alpha=_D["sgblend"]["alpha"], beta=_D["sgblend"]["beta"], gamma=_D["sgblend"]["gamma"]) -> tf.Tensor:
    """SG-Blend (authors' layer): σ(α)·(x·σ(βx) - γ) + σ(-α)·x·σ(1.702x), α raw."""
    return _apply("sgblend", x, {"alpha": alpha, "beta": beta, "gamma": gamma})


def sgblend_gelu(
    x, alpha=_D["sgblend_gelu"]["alpha"], beta=_D["sgblend_gelu"]["beta"], gamma=_D["sgblend_gelu"]["gamma"]
) -> tf.Tensor:
    """SG-Blend with the exact GELU: σ(α)·(x·σ(βx) - γ) + σ(-α)·x·Φ(x)."""
    return _apply("sgblend_gelu", x, {"alpha": alpha, "beta": beta, "gamma": gamma})


def sgblend_gelu_tanh(
    x, alpha=_D["sgblend_gelu_tanh"]["alpha"], beta=_D["sgblend_gelu_tanh"]["beta"],
    gamma=_D["sgblend_gelu_tanh"]["gamma"],
) -> tf.Tensor:
    """SG-Blend with the tanh GELU: σ(α)·(x·σ(βx) - γ) + σ(-α)·gelu_tanh(x)."""
    return _apply("sgblend_gelu_tanh", x, {"alpha": alpha, "beta": beta, "gamma": gamma})


def lambda_gelu(x, lam=_D["lambda_gelu"]["lam"]) -> tf.Tensor:
    """λ-GELU: x·Φ(λx), λ ≥ 1 (λ = 1 is exact GELU)."""
    return _apply("lambda_gelu", x, {"lam": lam})


# ----------------------------------------------------------------------------- Keras
_PACKAGE = "sgblend_spec"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Clip(keras.constraints.Constraint):
    """Clip every element to [min_value, max_value] (applied by Keras after each update)."""

    def __init__(self, min_value: float, max_value: float):
        self.min_value = float(min_value)
        self.max_value = float(max_value)
        if not self.min_value <= self.max_value:
            raise ValueError(f"Clip: min_value {min_value!r} must be <= max_value {max_value!r}")

    def __call__(self, w):
        return keras.ops.clip(w, self.min_value, self.max_value)

    def get_config(self) -> dict:
        return {"min_value": self.min_value, "max_value": self.max_value}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Fill(keras.initializers.Initializer):
    """Every element equal to ``value``, rounded once to the weight's dtype.

    keras.initializers.Constant goes through float32, so Constant(0.3) gives a float64
    weight of 0.30000001192...; parity across frameworks needs the float64 value itself.
    """

    def __init__(self, value: float):
        self.value = float(value)

    def __call__(self, shape, dtype=None):
        dtype = tf.as_dtype(dtype or keras.backend.floatx())
        return tf.cast(tf.fill(shape, tf.constant(self.value, tf.float64)), dtype)

    def get_config(self) -> dict:
        return {"value": self.value}


def _constrained_init(layer: str, parameter: spec.Parameter, value: object) -> float:
    """An explicit initial value: a real number where the layer keeps the parameter (its
    constraint, else its domain); spec.INPUT_CONTRACT "layer.init"."""
    return checks.check_initial_value(layer, parameter, value)


def _interval_clip(parameter: spec.Parameter) -> Clip:
    return Clip(parameter.constraint.lo, parameter.constraint.hi)


class _Activation(keras.layers.Layer):
    """Shared plumbing of the activation layers: elementwise, shape-preserving, maskable."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        policy = self.dtype_policy
        for role, dtype in (("weights", policy.variable_dtype), ("computation", policy.compute_dtype)):
            if dtype not in spec.DTYPES:
                raise TypeError(f"{type(self).__name__}: dtype policy {policy.name!r} uses {dtype} for its "
                                f"{role}; it must be float16, bfloat16, float32 or float64")

    def compute_output_shape(self, input_shape):
        return input_shape


class _Parametric(_Activation):
    """Trainable parameters: scalars of shape (1,) shared by the layer instance, or
    per-channel vectors of shape (C,) over the last axis (``per_channel=True``).

    Weights are created with ``autocast=False``: under a mixed precision policy they stay in
    the variable dtype (float32) inside ``call`` instead of being rounded to float16, while
    the input is cast to the compute dtype as usual.
    """

    def __init__(self, per_channel: bool = False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(per_channel, bool):
            raise TypeError(f"{type(self).__name__}: per_channel must be True or False, got {per_channel!r}")
        self.per_channel = per_channel

    def _weight_shape(self, input_shape) -> tuple[int]:
        if not self.per_channel:
            return (1,)
        channels = input_shape[-1] if len(input_shape) else None
        if channels is None:
            raise ValueError(
                f"{type(self).__name__}: per_channel=True needs a known last (channel) dimension, "
                f"got input shape {tuple(input_shape)}"
            )
        self.input_spec = keras.layers.InputSpec(min_ndim=1, axes={-1: channels})
        return (int(channels),)

    def _param(self, variable) -> tf.Tensor:
        """A (1,) weight as a scalar (so the output keeps x's shape); a (C,) weight as is."""
        t = tf.convert_to_tensor(variable)
        return tf.reshape(t, ()) if not self.per_channel else t

    def get_config(self) -> dict:
        return {**super().get_config(), "per_channel": self.per_channel}

    def _check_loaded(self, values) -> None:
        """spec.INPUT_CONTRACT "layer.load": each weight real floating, of its shape, finite and
        mapping into the function's domain; the layer constraint is not enforced (a checkpoint of
        the authors' layer before its first update holds β ≤ 0)."""
        for variable, value in zip(self._trainable_variables + self._non_trainable_variables, values):
            checks.check_loaded(type(self).__name__, self.function, variable.name, np.asarray(value),
                              tuple(variable.shape))

    def set_weights(self, weights):
        """Keras ``set_weights``, with each weight checked first (see :meth:`_check_loaded`)."""
        if len(weights) == len(self.weights):
            self._check_loaded(weights)
        super().set_weights(weights)

    def load_own_variables(self, store):
        """Keras loading (``load_weights``, ``load_model``), each weight checked first."""
        if self.built:
            self._check_loaded([store[str(i)] for i in range(len(self._trainable_variables
                                                                 + self._non_trainable_variables))
                                if str(i) in store])
        super().load_own_variables(store)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Swish(_Activation):
    """Swish-β, x·σ(βx), with a fixed β ≥ 0 (β = 1 is SiLU). No weights."""

    def __init__(self, beta: float = _D["swish"]["beta"], **kwargs):
        super().__init__(**kwargs)
        self.beta = checks.validate("swish", {"beta": beta})["beta"]

    def call(self, inputs):
        return swish(inputs, self.beta)

    def get_config(self) -> dict:
        return {**super().get_config(), "beta": self.beta}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GELU(_Activation):
    """GELU in one of its three forms: approximate='none' (exact x·Φ(x)), 'tanh', 'sigmoid'."""

    _FORMS = {"none": "gelu", "tanh": "gelu_tanh", "sigmoid": "gelu_sigmoid"}

    def __init__(self, approximate: str = "none", **kwargs):
        super().__init__(**kwargs)
        if approximate not in self._FORMS:
            raise ValueError(f"GELU: approximate must be one of {sorted(self._FORMS)}, got {approximate!r}")
        self.approximate = approximate

    def call(self, inputs):
        return _apply(self._FORMS[self.approximate], inputs, {})

    def get_config(self) -> dict:
        return {**super().get_config(), "approximate": self.approximate}


def _beta_initializer(layer: str, parameter: spec.Parameter, beta, beta_initializer):
    """(initializer, config value): an explicit beta is a constant in [0.1, 10]; otherwise a
    Keras initializer, glorot_uniform (the authors' U(-√3, √3) on shape (1,)) by default."""
    if beta is not None and beta_initializer is not None:
        raise ValueError(f"{layer}: give beta or beta_initializer, not both")
    if beta is not None:
        value = _constrained_init(layer, parameter, beta)
        return Fill(value), value
    return keras.initializers.get(beta_initializer or "glorot_uniform"), None


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SSwish(_Parametric):
    """SSwish, x·σ(βx) - γ, with trainable β (weight "beta") and γ (weight "gamma").

    β: ``beta_initializer`` (default "glorot_uniform", the authors' U(-√3, √3) on shape (1,),
    which can be negative until the first update) or an explicit ``beta`` in [0.1, 10];
    constraint :class:`Clip` (0.1, 10), which Keras applies after each optimizer update.
    γ starts at ``gamma`` (0), unconstrained. ``per_channel=True``: shapes (C,) over the last axis.
    """

    function = "sswish"

    def __init__(self, beta: float | None = None, gamma: float = _D["sswish"]["gamma"],
                 beta_initializer=None, per_channel: bool = False, **kwargs):
        super().__init__(per_channel=per_channel, **kwargs)
        record = spec.FUNCTIONS[self.function]
        name = type(self).__name__
        self._beta_init, self.beta_value = _beta_initializer(name, record.parameter("beta"), beta, beta_initializer)
        self.gamma_value = checks.check_initial_value(type(self).__name__, spec.FUNCTIONS[self.function].parameter("gamma"), gamma,
                                                    "parameter 'gamma'")

    def build(self, input_shape):
        shape = self._weight_shape(input_shape)
        self.beta = self.add_weight(name="beta", shape=shape, initializer=self._beta_init,
                                    constraint=_interval_clip(spec.FUNCTIONS[self.function].parameter("beta")),
                                    autocast=False)
        self.gamma = self.add_weight(name="gamma", shape=shape, initializer=Fill(self.gamma_value),
                                     autocast=False)

    def call(self, inputs):
        return _apply(self.function, inputs, {"beta": self._param(self.beta), "gamma": self._param(self.gamma)})

    def get_config(self) -> dict:
        config = {"beta": self.beta_value, "gamma": self.gamma_value, "beta_initializer": None}
        if self.beta_value is None:
            config["beta_initializer"] = keras.initializers.serialize(self._beta_init)
        return {**super().get_config(), **config}


#: The smallest distance of a from 0 and 1 in the direct parameterisation, so that
#: α = logit(a) stays finite (|α| ≤ 36.7); a relative change of 2^-53 in the blend weights.
DIRECT_ALPHA_EPS = 2.0**-53


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SGBlend(_Parametric):
    """SG-Blend, σ(α)·SSwish(x; β, γ) + σ(-α)·g(x).

    Defaults reproduce the authors' released Keras layer exactly: weights "alpha", "beta",
    "gamma" of shape (1,), created in that order in ``build`` (so their trained weights
    load); α starts at 0 with ``keras.constraints.MinMaxNorm(0, 1)`` (keeps |α| ≤ 1); β
    from glorot_uniform (U(-√3, √3) on shape (1,)) with :class:`Clip` (0.1, 10); γ = 0
    unconstrained; g(x) = x·σ(1.702x). Keras applies constraints after each update, not at
    initialisation. One instance shares its parameters wherever it is called.

    Variants: ``gelu='exact'`` / ``'tanh'`` blend with the exact / tanh GELU (spec functions
    sgblend_gelu / sgblend_gelu_tanh); ``beta=1.0`` or ``beta_initializer='ones'`` is the
    deterministic β; ``per_channel=True`` gives shapes (C,) over the last axis (then α is
    clipped to [-1, 1] elementwise: MinMaxNorm on a (C,) vector would bound its joint norm);
    ``alpha_parameterization='direct'`` trains a = σ(α) itself as weight "a" (initial value
    σ(``alpha``)), clipped to [0, 1]; it is evaluated as α = logit(a) with a kept
    :data:`DIRECT_ALPHA_EPS` away from 0 and 1 (straight-through, so ∂F/∂a = SSwish - g
    holds at the ends too).
    """

    _VARIANTS = {"sigmoid": "sgblend", "exact": "sgblend_gelu", "tanh": "sgblend_gelu_tanh"}
    _ALPHA = ("raw", "direct")

    def __init__(self, alpha: float = _D["sgblend"]["alpha"], beta: float | None = None,
                 gamma: float = _D["sgblend"]["gamma"], gelu: str = "sigmoid",
                 alpha_parameterization: str = "raw", beta_initializer=None, per_channel: bool = False,
                 **kwargs):
        super().__init__(per_channel=per_channel, **kwargs)
        name = type(self).__name__
        if gelu not in self._VARIANTS:
            raise ValueError(f"{name}: gelu must be one of {sorted(self._VARIANTS)}, got {gelu!r}")
        if alpha_parameterization not in self._ALPHA:
            raise ValueError(f"{name}: alpha_parameterization must be one of {list(self._ALPHA)}, "
                             f"got {alpha_parameterization!r}")
        self.gelu = gelu
        self.function = self._VARIANTS[gelu]
        self.alpha_parameterization = alpha_parameterization
        record = spec.FUNCTIONS[self.function]
        self.alpha_value = _constrained_init(name, record.parameter("alpha"), alpha)
        self._beta_init, self.beta_value = _beta_initializer(name, record.parameter("beta"), beta, beta_initializer)
        self.gamma_value = checks.check_initial_value(type(self).__name__, spec.FUNCTIONS[self.function].parameter("gamma"), gamma,
                                                    "parameter 'gamma'")

    def build(self, input_shape):
        shape = self._weight_shape(input_shape)
        record = spec.FUNCTIONS[self.function]
        if self.alpha_parameterization == "direct":
            a = record.parameter("alpha").reparam.forward(self.alpha_value)
            self.alpha = self.add_weight(name="a", shape=shape, initializer=Fill(a),
                                         constraint=Clip(0.0, 1.0), autocast=False)
        else:
            constraint = (_interval_clip(record.parameter("alpha")) if self.per_channel
                          else keras.constraints.MinMaxNorm(min_value=0.0, max_value=1.0))
            self.alpha = self.add_weight(name="alpha", shape=shape,
                                         initializer=Fill(self.alpha_value),
                                         constraint=constraint, autocast=False)
        self.beta = self.add_weight(name="beta", shape=shape, initializer=self._beta_init,
                                    constraint=_interval_clip(record.parameter("beta")), autocast=False)
        self.gamma = self.add_weight(name="gamma", shape=shape, initializer=Fill(self.gamma_value),
                                     autocast=False)

    def _raw_alpha(self) -> tf.Tensor:
        if self.alpha_parameterization == "raw":
            return self._param(self.alpha)
        a = tf.cast(self._param(self.alpha), _WORKING)
        kept = a + tf.stop_gradient(tf.clip_by_value(a, DIRECT_ALPHA_EPS, 1.0 - DIRECT_ALPHA_EPS) - a)
        return tf.math.log(kept) - tf.math.log1p(-kept)

    def call(self, inputs):
        params = {"alpha": self._raw_alpha(), "beta": self._param(self.beta), "gamma": self._param(self.gamma)}
        return _apply(self.function, inputs, params)

    def get_config(self) -> dict:
        config = {
            "alpha": self.alpha_value, "beta": self.beta_value, "gamma": self.gamma_value, "gelu": self.gelu,
            "alpha_parameterization": self.alpha_parameterization, "beta_initializer": None,
        }
        if self.beta_value is None:
            config["beta_initializer"] = keras.initializers.serialize(self._beta_init)
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LambdaGELU(_Parametric):
    """λ-GELU, x·Φ(λx), trained through the weight "rho" with λ = 1 + ρ² (spec.LAM.reparam).

    ``lam`` (default 1 + ln 2) must be ≥ 1; ρ starts at √(λ - 1). :attr:`lam` is read-only.
    λ is formed in float64 from ρ, so it is not rounded to the weight's dtype.
    """

    function = "lambda_gelu"

    def __init__(self, lam: float = _D["lambda_gelu"]["lam"], per_channel: bool = False, **kwargs):
        super().__init__(per_channel=per_channel, **kwargs)
        self.lam_value = checks.check_initial_value(type(self).__name__, spec.FUNCTIONS[self.function].parameter("lam"), lam,
                                                    "parameter 'lam'")

    def build(self, input_shape):
        shape = self._weight_shape(input_shape)
        reparam = spec.FUNCTIONS[self.function].parameter("lam").reparam
        self.rho = self.add_weight(name="rho", shape=shape,
                                   initializer=Fill(reparam.inverse(self.lam_value)),
                                   autocast=False)

    @property
    def lam(self) -> tf.Tensor:
        """λ = 1 + ρ² (read-only; same shape and dtype as ρ)."""
        rho = tf.convert_to_tensor(self.rho)
        return 1 + rho * rho

    def call(self, inputs):
        rho = tf.cast(self._param(self.rho), _WORKING)
        return _apply(self.function, inputs, {"lam": 1 + rho * rho})

    def get_config(self) -> dict:
        return {**super().get_config(), "lam": self.lam_value}


def export_parameters(layer: keras.layers.Layer) -> dict[str, np.ndarray]:
    """A layer's trainable parameters as NumPy arrays keyed by their spec names.

    This is the interchange format of the weight converter: the torch modules' state_dict
    and the JAX parameter pytrees use the same names and shapes (load with
    ``sgblend_spec.backends.torch.import_parameters`` or ``...jax.import_parameters``).
    """
    return {v.name.split("/")[-1].split(":")[0]: np.array(v.numpy()) for v in layer.trainable_weights}


# ============================================================================ λ-GELU training recipe and activation swap
# The math (target, floor, projection, gradient scale, report) is sgblend_spec.hardening;
# this section binds it to Keras 3 models, optimizers and callbacks.


def _all_layers(model: keras.layers.Layer) -> list[keras.layers.Layer]:
    """``model`` and every layer inside it (nested models, layers used as activations), once each."""
    return list(model._flatten_layers(include_self=True, recursive=True))


def _lambda_layers(model: keras.layers.Layer, caller: str) -> list[LambdaGELU]:
    layers = [layer for layer in _all_layers(model) if isinstance(layer, LambdaGELU)]
    if not layers:
        raise ValueError(f"{caller}: model has no LambdaGELU layer")
    if any(not layer.built for layer in layers):
        raise ValueError(f"{caller}: build the model first (call it once, or give it an Input)")
    return layers


def register_lambda_update(optimizer: keras.optimizers.Optimizer, model: keras.layers.Layer,
                           preactivation_std: float = 1.0) -> keras.optimizers.Optimizer:
    """The λ-aware update: ``optimizer.apply`` multiplies every λ-GELU "rho" gradient of
    ``model`` by κ(λ) = ((1 + λ²s²)/(1 + s²))^(3/2) (``hardening.lam_gradient_scale``) before
    updating, which undoes the λ⁻³ attenuation of E[∂f/∂λ] for pre-activations of standard
    deviation s (see ``sgblend_spec.hardening``; under Adam it changes only the role of ε).

    Patches this optimizer instance (``model.fit`` calls ``apply``) and returns it; the
    optimizer's own clipnorm/clipvalue then see the scaled gradient. The patch is not saved
    with the model: register again after loading.
    """
    _hardening.lam_gradient_scale(1.0, preactivation_std)  # checks preactivation_std
    rhos = {id(layer.rho): layer.rho for layer in _lambda_layers(model, "register_lambda_update")}
    if getattr(optimizer, "_sgblend_lambda_update", False):
        raise ValueError("register_lambda_update: this optimizer already has the λ-aware update")
    unscaled_apply = optimizer.apply

    def apply(grads, trainable_variables=None):
        variables = optimizer._trainable_variables if trainable_variables is None else list(trainable_variables)
        scaled = []
        for g, v in zip(grads, variables):
            if g is not None and id(v) in rhos:
                rho = tf.cast(tf.convert_to_tensor(v), _WORKING)
                kappa = _hardening.lam_gradient_scale(1 + rho * rho, preactivation_std)
                g = g * tf.cast(kappa, g.dtype)
            scaled.append(g)
        return unscaled_apply(scaled, trainable_variables)

    optimizer.apply = apply
    optimizer._sgblend_lambda_update = True
    return optimizer


class HardeningCallback(keras.callbacks.Callback):
    """The deterministic hardening schedule as a Keras callback.

    After every training batch, each λ-GELU "rho" of the model is projected onto
    1 + ρ² ≥ λ_min(step), sign kept (``hardening.project_rho``), where step is
    ``model.optimizer.iterations`` and λ_min rises from 1 at ``start_step`` to ``lam_target``
    at ``start_step + ramp_steps`` with 1/λ_min linear in the step (``hardening.lam_floor``),
    then holds. The step count lives in the optimizer, so a resumed fit continues the
    schedule. With ``steps_per_execution`` > 1 the projection runs once per execution.
    """

    def __init__(self, lam_target: float, ramp_steps: int, start_step: int = 0):
        super().__init__()
        _hardening.lam_floor(0, lam_target, ramp_steps, start_step)  # checks every argument
        self.lam_target = float(lam_target)
        self.ramp_steps = int(ramp_steps)
        self.start_step = int(start_step)
        self.lam_floor = 1.0

    def on_train_begin(self, logs=None):
        self._layers = _lambda_layers(self.model, "HardeningCallback")

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        self.lam_floor = _hardening.lam_floor(step, self.lam_target, self.ramp_steps, self.start_step)
        if self.lam_floor == 1.0:
            return
        for layer in self._layers:
            rho = tf.convert_to_tensor(layer.rho)
            layer.rho.assign(_hardening.project_rho(NAMESPACE, rho, self.lam_floor))


def _matcher(old):
    """old (a layer class, an activation name for keras.layers.Activation, or a tuple of
    them) -> (does a layer match, does an activation function/object match)."""
    items = old if isinstance(old, tuple) else (old,)
    classes, functions = [], []
    for item in items:
        if isinstance(item, type) and issubclass(item, keras.layers.Layer):
            classes.append(item)
        elif isinstance(item, str):
            try:
                functions.append(keras.activations.get(item))
            except ValueError as error:
                raise ValueError(f"old: unknown Keras activation name {item!r}") from error
        else:
            raise TypeError(
                "old must be a Keras layer class, an activation name such as 'gelu', or a tuple of them, "
                f"got {item!r}"
            )
    if not items:
        raise TypeError("old must name at least one layer class or activation")

    def activation_matches(activation) -> bool:
        return isinstance(activation, tuple(classes)) or any(activation is f for f in functions)

    def layer_matches(layer) -> bool:
        if isinstance(layer, tuple(classes)):
            return True
        return isinstance(layer, keras.layers.Activation) and activation_matches(layer.activation)

    return layer_matches, activation_matches


def _layer_factory(new):
    if isinstance(new, keras.layers.Layer):
        return lambda replaced: new
    if isinstance(new, type) and issubclass(new, keras.layers.Layer):
        return lambda replaced: new()
    if callable(new):
        def call(replaced):
            made = new(replaced)
            if not isinstance(made, keras.layers.Layer):
                raise TypeError(f"new({type(replaced).__name__}) returned {type(made).__name__}, not a Keras layer")
            return made
        return call
    raise TypeError(
        "new must be a Keras layer instance (shared by every site), a layer class (one instance per "
        f"site) or a callable taking the replaced layer, got {new!r}"
    )


def swap_activations(model: keras.Model, old, new, *, skip_fused: bool = False) -> tuple[keras.Model, list[str]]:
    """A copy of a Sequential or functional ``model`` with every activation layer matching
    ``old`` replaced by ``new``; returns ``(new_model, sites)``, sites the replaced layers'
    names ("outer/inner" inside a nested model; a layer called at several places is one
    site and gets one replacement).

    ``old``: a layer class (``keras.layers.ReLU``, this module's ``GELU``), an activation name
    matching ``keras.layers.Activation`` layers ("gelu", "silu", "relu"; aliases resolve
    through ``keras.activations.get``), or a tuple of them. ``new``: a layer class (one new
    instance per site), a callable taking the replaced layer, or a layer instance shared by
    every site. Every other layer is the same layer object in both models, so weights are
    shared, not copied (the model is rebuilt with ``keras.models.clone_model``; a compiled
    model's compile config is carried over). Activations fused into another layer
    (``Dense(..., activation="gelu")``) cannot be swapped: they raise ValueError naming
    those layers unless ``skip_fused=True``.
    """
    layer_matches, activation_matches = _matcher(old)
    make = _layer_factory(new)
    sites: list[str] = []
    made: dict[int, keras.layers.Layer] = {}

    def rebuild(current: keras.Model, prefix: str) -> keras.Model:
        fused = [layer.name for layer in current.layers
                 if not layer_matches(layer) and not isinstance(layer, keras.Model)
                 and activation_matches(getattr(layer, "activation", None))]
        if fused and not skip_fused:
            raise ValueError(
                f"swap_activations: layer(s) {fused} apply a matching activation internally (activation=...); "
                "give them a separate activation layer, or pass skip_fused=True to leave them"
            )

        def clone_function(layer):
            if layer_matches(layer):
                sites.append(prefix + layer.name)
                if id(layer) not in made:
                    made[id(layer)] = make(layer)
                return made[id(layer)]
            if isinstance(layer, keras.Model) and any(
                    layer_matches(x) or activation_matches(getattr(x, "activation", None)) for x in _all_layers(layer)):
                return rebuild(layer, f"{prefix}{layer.name}/")
            return layer  # the same layer object: its weights are shared, not copied

        return keras.models.clone_model(current, clone_function=clone_function)

    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a Keras Sequential or functional Model, got {type(model).__name__}")
    return rebuild(model, ""), sites


def _flat(outputs) -> np.ndarray:
    return np.concatenate([np.asarray(keras.ops.convert_to_numpy(o), dtype=np.float64).ravel()
                           for o in tf.nest.flatten(outputs)])


def relu_ize(model: keras.Model, inputs) -> tuple[keras.Model, _hardening.SubstitutionReport]:
    """A copy of ``model`` with every LambdaGELU layer replaced by ``keras.layers.ReLU``, and
    the measured change of its outputs on ``inputs`` (called with ``training=False``).

    Returns ``(relu_model, report)``, ``report`` a ``hardening.SubstitutionReport``: the
    replaced sites, the max/mean absolute and relative change of the outputs, and the
    per-unit bound c/λ_min (0.16997/λ_min). The other layers are shared with ``model``
    (see :func:`swap_activations`); ``model`` itself is unchanged.
    """
    lams = [np.asarray(layer.lam) for layer in _lambda_layers(model, "relu_ize")]
    before = _flat(model(inputs, training=False))
    relu_model, sites = swap_activations(model, LambdaGELU, keras.layers.ReLU)
    after = _flat(relu_model(inputs, training=False))
    return relu_model, _hardening.substitution_report(sites, before, after, lams)
