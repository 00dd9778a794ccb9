"""The TensorFlow binding of ``adapt.tensorflow``: functions and Keras 3 layers.

A function ``f(x, **params)`` runs eagerly with Python-number parameters; with
``graph=True`` values and ∂²f/∂x² run as ``tf.function`` graphs, one per (quantity, f,
dtype, rank), traced with unknown dimensions and the parameters as scalar tensors — the
path of a Keras layer inside ``model.fit`` (Grappler's rewrites included), ~30x faster per
call. Anything that is not a float x with Python-number parameters (array parameters, an
integer x) takes the eager path. The per-element partials always come from one
``GradientTape`` in a graph (x and every parameter as tensors broadcast to x's shape,
watched; the gradient of f summed).

A Keras layer has no parameter arguments: its variables are the parameters. It is rebuilt
in each dtype from its config, its variables are assigned the suite's parameters before
each call, and a variable's per-element partial is the tape's Jacobian of the output with
respect to it (summed over the variable's own axes, for per-channel variables); this works
on Keras 3 variables, where ``ForwardAccumulator`` does not.
"""

from __future__ import annotations

import numpy as np

from sgblend_spec import spec


def variable_name(v) -> str:
    return v.name.split("/")[-1].split(":")[0]


class KerasLayer:
    """A Keras layer called as ``f(x, **params)``: one built copy per dtype, whose variables
    (named as the spec's parameters, or through ``parameters``) take the values given."""

    def __init__(self, layer, function: str, parameters=None):
        self.layer, self.function = layer, function
        self.names = {p: (parameters or {}).get(p, p) for p in spec.FUNCTIONS[function].param_names}
        self._copies = {}
        self.__module__, self.__qualname__ = type(layer).__module__, type(layer).__qualname__

    def prepare(self, xt, params):
        """The layer for xt's dtype with its variables set to ``params``; {parameter: variable}."""
        dtype = xt.dtype.name
        if dtype not in self._copies:
            copy = type(self.layer).from_config({**self.layer.get_config(), "dtype": dtype})
            copy(xt)  # builds the variables
            found = {variable_name(v): v for v in copy.weights}
            missing = [f"{p} (variable {n!r})" for p, n in self.names.items() if n not in found]
            if missing:
                raise ValueError(f"{type(self.layer).__name__} has no variable for {missing}; "
                                 f"its variables: {sorted(found)} (use parameters={{spec name: variable name}})")
            self._copies[dtype] = (copy, {p: found[n] for p, n in self.names.items()})
        copy, variables = self._copies[dtype]
        for p, value in params.items():
            v = variables[p]
            # Through NumPy: tf.constant(v, dtype=tf.bfloat16) flushes a subnormal v to 0.
            v.assign(np.broadcast_to(np.asarray(value, dtype=xt.dtype.as_numpy_dtype), v.shape))
        return copy, variables

    def __call__(self, xt, **params):
        layer, _ = self.prepare(xt, params)
        return layer(xt)


class TensorFlowBinding:
    def __init__(self, graph: bool = False):
        import tensorflow as tf

        self.tf, self.graph = tf, graph
        self._graphs = {}

    @staticmethod
    def is_layer(f) -> bool:
        return hasattr(f, "get_config") and hasattr(f, "weights") and callable(f)

    def layer_function(self, layer, function, parameters):
        if function is None:
            raise TypeError("adapt.tensorflow(layer, function='<spec name>'): a layer implements one function")
        return KerasLayer(layer, function, parameters)

    def to_native(self, x: np.ndarray):
        """NumPy (ml_dtypes.bfloat16 included) to a tensor of the same dtype and bits."""
        return self.tf.constant(np.array(x, copy=True))  # a copy: strided views become contiguous

    @staticmethod
    def to_numpy(t, dtype: np.dtype) -> np.ndarray:
        out = t.numpy()
        if out.dtype != dtype:  # TensorFlow's bfloat16 NumPy type is ml_dtypes.bfloat16: same bits
            out = out.view(dtype) if out.dtype.itemsize == dtype.itemsize else out.astype(dtype)
        return np.asarray(out).reshape(np.shape(t))

    def _scalars(self, x, params):
        # Through NumPy: tf.constant(v, dtype=tf.bfloat16) flushes a subnormal v to 0.
        return [self.to_native(np.asarray(v, dtype=x.dtype)) for v in params.values()]

    def _compiled(self, quantity, f, keys, free, xt):
        """The tf.function computing ``quantity`` for xt's dtype and rank."""
        tf = self.tf
        key = (quantity, id(f), keys, free, xt.dtype, xt.shape.rank)
        if key not in self._graphs:
            def value(x, *values):
                return f(x, **dict(zip(keys, values)))

            def grad(x, *values):
                given = dict(zip(keys, values))
                tensors = {n: tf.fill(tf.shape(x), given[n]) for n in free}
                with tf.GradientTape() as tape:
                    tape.watch([x, *tensors.values()])
                    out = f(x, **{**given, **tensors})
                return tape.gradient(out, [x, *tensors.values()], unconnected_gradients="zero")

            def dxx(x, *values):
                return self.second_derivative(f, x, dict(zip(keys, values)))

            signature = [tf.TensorSpec([None] * xt.shape.rank, xt.dtype)] + [tf.TensorSpec([], xt.dtype)] * len(keys)
            body = {"value": value, "grad": grad, "dxx": dxx}[quantity]
            self._graphs[key] = tf.function(body, input_signature=signature)
        return self._graphs[key]

    def _in_graph(self, f, x, params) -> bool:
        """Whether graph mode applies: a function, a floating x and Python-number parameters."""
        return (self.graph and not isinstance(f, KerasLayer) and x.dtype.name in spec.DTYPES
                and all(isinstance(v, float) for v in params.values()))

    def value(self, f, function, x, params, check):
        if self._in_graph(f, x, params):
            check(function, params)  # eager check: in the graph a bad value gives NaN or an Assert
            xt = self.to_native(x)
            return self.to_numpy(self._compiled("value", f, tuple(params), (), xt)(xt, *self._scalars(x, params)), x.dtype)
        return self.to_numpy(f(self.to_native(x), **params), x.dtype)

    def grad(self, f, function, x, params, names):
        xt = self.to_native(x)
        if isinstance(f, KerasLayer):
            return self._layer_grad(f, xt, x.dtype, params, names)
        grads = self._compiled("grad", f, tuple(params), tuple(names), xt)(xt, *self._scalars(x, params))
        return {k: self.to_numpy(g, x.dtype) for k, g in zip(["x", *names], grads)}

    def _layer_grad(self, f, xt, dtype, params, names):
        tf = self.tf
        layer, variables = f.prepare(xt, params)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(xt)
            out = layer(xt)
        result = {"x": tape.gradient(out, xt, unconnected_gradients="zero")}
        for n in names:
            v = variables[n]
            jacobian = tape.jacobian(out, getattr(v, "value", v), unconnected_gradients="zero")
            result[n] = tf.reduce_sum(tf.reshape(jacobian, tf.concat([tf.shape(out), [-1]], 0)), axis=-1)
        return {k: self.to_numpy(g, dtype) for k, g in result.items()}

    def dxx(self, f, function, x, params):
        xt = self.to_native(x)
        if self._in_graph(f, x, params):
            return self.to_numpy(self._compiled("dxx", f, tuple(params), (), xt)(xt, *self._scalars(x, params)), x.dtype)
        return self.to_numpy(self.second_derivative(f, xt, params), x.dtype)

    def second_derivative(self, f, xt, params):
        """∂²f/∂x² elementwise by nested tapes: the gradient in x of the sum of ∂f/∂x."""
        tf = self.tf
        with tf.GradientTape() as outer:
            outer.watch(xt)
            with tf.GradientTape() as inner:
                inner.watch(xt)
                out = f(xt, **params)
            fx = inner.gradient(out, xt, unconnected_gradients="zero")
        return outer.gradient(fx, xt, unconnected_gradients="zero")
