"""TensorFlow differentiation rule: one ``tf.custom_gradient`` op per spec function.

The op keeps only ``x`` and the parameters for the backward pass. Its gradient evaluates
the spec's ``grad`` formula and is itself a ``tf.custom_gradient`` op, so nested
``GradientTape``s give second derivatives (:func:`second_derivatives`): ∂²f/∂x² from the
spec's ``dxx`` formula; the mixed and parameter-parameter terms from TensorFlow autodiff
through the ``grad`` formula (in the tier's working dtype: float64 for "exact" and for
float64 input, float32 for "fast"). At x = ±inf those mixed terms can be NaN
(autodiff's inf·0); ∂²f/∂x² is exact there.

A parameter's gradient has that parameter's dtype and shape (summed, in float64, over the
dimensions it was broadcast along, in the working dtype, then rounded once). Ops are made per
(function, differentiable parameters, precision tier).
"""

from __future__ import annotations

import tensorflow as tf

from sgblend_spec import formulas, spec

from .numerics import DIFFERENTIABLE, NAMESPACE, full, round_once, sum_to_shape, to_working, working as working_dtype


def make_op(name: str, needs: tuple[bool, ...], precision: str = "fast"):
    """The custom-gradient op of spec function ``name`` in the tier ``precision``;
    ``needs[i]`` says whether parameter i is a tensor the caller may differentiate (Python
    numbers get no gradient)."""
    param_names = spec.FUNCTIONS[name].param_names
    formula = formulas.FORMULAS[name]
    wanted = [n for n, need in zip(param_names, needs) if need]

    def working(x, params):
        wd = working_dtype(x.dtype, precision)
        return to_working(x, wd), {n: to_working(p, wd) for n, p in zip(param_names, params)}

    @tf.custom_gradient
    def backward(dy, x, *params):
        """(dy·∂f/∂x, dy·∂f/∂p for each wanted p), reduced to each input's shape and dtype."""
        x64, p64 = working(x, params)
        g = to_working(dy, x64.dtype)
        partials = formula.grad(NAMESPACE.for_input(x.dtype), x64, **p64)
        targets = dict(zip(param_names, params))
        outputs = [round_once(sum_to_shape(g * partials["x"], x), x.dtype)]
        outputs += [round_once(sum_to_shape(g * partials[n], targets[n]), targets[n].dtype) for n in wanted]

        def second(*upstream):
            return second_derivatives(formula, param_names, wanted, dy, x, targets, g, x64, p64, partials, upstream)

        return outputs, second

    @tf.custom_gradient
    def op(x, *params):
        x64, p64 = working(x, params)
        y = round_once(formula.value(NAMESPACE.for_input(x.dtype), x64, **p64), x.dtype)

        def first(dy):
            grads = backward(dy, x, *params)
            by_name = dict(zip(wanted, grads[1:]))
            return [grads[0], *(by_name.get(n) for n in param_names)]

        return y, first

    return op


def second_derivatives(formula, param_names, wanted, dy, x, targets, g, x64, p64, partials, upstream):
    """Vector-Hessian products: the first backward gave G_x = Σ g·f_x, G_p = Σ g·f_p.
    With upstream v_x, v_p: ∂/∂g = f_x·v_x + Σ f_p·v_p; ∂/∂x = g·(f_xx·v_x + Σ f_px·v_p);
    ∂/∂q = g·(f_xq·v_x + Σ f_pq·v_p). f_xx is the spec's dxx formula, the mixed terms
    autodiff through the spec's grad formula (float64).

    Returns the gradients of the first backward's inputs (dy, x, every parameter; None for
    a parameter that is not wanted), each in its input's dtype.
    """
    v = {key: None if u is None else to_working(u, x64.dtype) for key, u in zip(["x", *wanted], upstream)}
    v_p = {n: v[n] for n in wanted if v[n] is not None}
    # TensorFlow hands zeros (not None) as the upstream of a parameter output nobody
    # used, e.g. in ∂²f/∂x² by nested tapes with a layer's variables. Where every v_p
    # is 0 the parameter terms are 0, not ∞·0 = NaN at x = ±inf: they are evaluated
    # at x = 0 there (``unless_quiet``), and dropped.
    if v_p:
        quiet = tf.reduce_all(tf.stack([tf.equal(full(u, x64), 0) for u in v_p.values()]), axis=0)

    def unless_quiet(t):
        return tf.where(quiet, tf.zeros_like(x64), full(t, x64))

    d_dy = None
    terms = ([partials["x"] * v["x"]] if v["x"] is not None else []) + [
        unless_quiet(partials[n] * u) for n, u in v_p.items()]
    if terms:
        d_dy = round_once(sum_to_shape(full(tf.add_n(terms) if len(terms) > 1 else terms[0], g), dy), dy.dtype)

    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x64)
        tape.watch([p64[n] for n in wanted])
        diff = formula.grad(DIFFERENTIABLE, x64, **p64)
        across = None
        if v_p:
            diff_p = formula.grad(DIFFERENTIABLE, unless_quiet(x64), **p64)
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
        add(0, sum_to_shape(full(g * formula.dxx(NAMESPACE.for_input(x.dtype), x64, **p64) * v["x"], g), x64))
    del tape

    # The tape's gradients already have their source's shape.
    inputs = [x] + [targets[n] for n in wanted]
    rounded = [None if d is None else round_once(d, target.dtype) for d, target in zip(total, inputs)]
    by_name = dict(zip(wanted, rounded[1:]))
    return [d_dy, rounded[0], *(by_name.get(n) for n in param_names)]


OPS: dict[tuple[str, tuple[bool, ...], str], object] = {}


def op(name: str, needs: tuple[bool, ...], precision: str = "fast"):
    """The op of ``name`` for this set of differentiable parameters and tier, made once and cached."""
    key = (name, needs, precision)
    if key not in OPS:
        OPS[key] = make_op(name, needs, precision)
    return OPS[key]
