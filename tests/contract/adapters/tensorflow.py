"""The TensorFlow/Keras 3 adapter (TensorFlow is imported when the adapter is built)."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np

from . import LEARNABLE, TARGET, Adapter, check_options, normal_quantiles, sgd_task

F32_EPS = float(np.finfo(np.float32).eps)


class TensorFlowAdapter(Adapter):
    name = "tensorflow"

    def __init__(self):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        super().__init__()
        import keras
        import tensorflow as tf

        self.tf, self.keras = tf, keras

    def set_threads(self, n):
        self.tf.config.threading.set_intra_op_parallelism_threads(n)
        self.tf.config.threading.set_inter_op_parallelism_threads(n)

    def setup(self, monkeypatch):
        self.keras.config.set_dtype_policy("float32")  # every test starts with the float32 policy

    # ----------------------------------------------------------------- arrays and functions
    def native(self, values):
        return self.tf.constant(values)

    def from_numpy(self, a):
        return self.tf.constant(a)

    def to_numpy(self, t):
        return np.asarray(t.numpy() if hasattr(t, "numpy") else t)

    def is_native(self, t):
        return isinstance(t, self.tf.Tensor)

    def parameter_forms(self, bad, default):
        return [*super().parameter_forms(bad, default), self.tf.Variable([bad])]

    def value_and_grads(self, name, x, params, jit=False):
        tf = self.tf
        x = tf.convert_to_tensor(x)
        tensors = [v for v in params.values() if isinstance(v, (tf.Tensor, tf.Variable))]
        with tf.GradientTape() as tape:
            tape.watch([x, *tensors])
            y = getattr(self.api, name)(x, **params)
        return [self.to_numpy(t) for t in (y, *tape.gradient(y, [x, *tensors]))]

    compilers = ("tf.function", "jit_compile")  # Grappler, and XLA

    def compiled(self, compiler, function, quantity, x, params, precision):
        tf = self.tf
        names = list(params)

        def evaluate(x, *values):
            leaves = dict(zip(names, values))
            if quantity == "dxx":  # elementwise: the x-gradient of the x-gradient
                with tf.GradientTape() as outer:
                    outer.watch(x)
                    with tf.GradientTape() as inner:
                        inner.watch(x)
                        y = getattr(self.api, function)(x, **leaves, precision=precision)
                    dx = inner.gradient(y, x)
                return outer.gradient(dx, x)
            with tf.GradientTape() as tape:
                tape.watch([x, *values])
                y = getattr(self.api, function)(x, **leaves, precision=precision)
            if quantity == "value":
                return y
            weight = tf.ones_like(y) if quantity == "x" else tf.one_hot(0, tf.size(y), dtype=y.dtype)
            return tape.gradient(y, x if quantity == "x" else leaves[quantity], output_gradients=weight)

        run = tf.function(evaluate, jit_compile=compiler == "jit_compile")
        # every input a graph input, so that nothing is a constant the optimiser may fold
        return run(tf.constant(x), *(tf.constant(v, dtype=x.dtype) for v in params.values())).numpy()

    def transpose(self, x):
        return self.tf.transpose(x)

    def broadcast_to(self, x, shape):
        return self.tf.broadcast_to(x, shape)

    # ----------------------------------------------------------------- layers
    def dtype_error(self, dtype):
        return f"dtype policy '{dtype}'"

    def layer(self, cls, channels=None, **kwargs):
        check_options(cls, kwargs, {"alpha", "beta", "gamma", "lam", "gelu", "dtype", "alpha_parameterization"})
        if channels is not None:
            kwargs["per_channel"] = True
        return getattr(self.api, cls)(**kwargs)

    def assign(self, layer, raw, values):
        if not layer.built:
            layer(self.tf.ones((1, len(values))))
        variable = getattr(layer, raw)
        variable.assign(np.reshape(values, variable.shape))

    def call_layer(self, layer, x):
        return self.to_numpy(layer(x))

    def checkpoint(self, layer, tmp_path):
        keras = self.keras
        model = keras.Sequential([keras.Input((4,)), layer])
        model.save(tmp_path / "m.keras")
        loaded = keras.models.load_model(tmp_path / "m.keras")
        return (lambda x: self.to_numpy(loaded(x))), {w.name: w.numpy() for w in loaded.layers[0].weights}

    def stress_train(self, key, optimizer, steps):
        tf, keras = self.tf, self.keras
        cls, kwargs = LEARNABLE[key]
        keras.utils.set_random_seed(9)
        activation = self.layer(cls, **kwargs)
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), activation, keras.layers.Dense(4)])
        rng = np.random.default_rng(9)
        x = tf.constant(rng.standard_normal((64, 8)) * 3, tf.float32)
        labels = tf.constant(rng.integers(0, 4, 64))
        opt = (keras.optimizers.Adam(learning_rate=1.0) if optimizer == "adam-lr1"
               else keras.optimizers.SGD(learning_rate=10.0, global_clipnorm=1.0))
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        @tf.function  # a graph, so that the in-graph parameter Asserts are live
        def step():
            with tf.GradientTape() as tape:
                out = model(x, training=True)
                loss = loss_fn(labels, out)
            opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
            return tf.reduce_all(tf.math.is_finite(out))

        trace = [(bool(step()), {v.name: v.numpy() for v in activation.weights}) for _ in range(steps)]
        return trace, bool(np.all(np.isfinite(model(x).numpy())))

    # ----------------------------------------------------------------- recipe
    def _mlp(self, seed, width=32):
        keras = self.keras
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((2,))
        h = self.api.LambdaGELU(name="act1")(keras.layers.Dense(width, name="dense1")(inputs))
        h = self.api.LambdaGELU(per_channel=True, name="act2")(keras.layers.Dense(width, name="dense2")(h))
        return keras.Model(inputs, keras.layers.Dense(1, name="out")(h))

    def hardening_schedule(self, lam_target, ramp_steps, start_step=0):
        return self.api.HardeningCallback(lam_target, ramp_steps, start_step)

    def lambda_update(self, preactivation_std):
        return self.api.register_lambda_update(self.keras.optimizers.SGD(), self._mlp(0),
                                               preactivation_std=preactivation_std)

    def sgd_step_log_lambda(self, lams, rule):
        keras = self.keras
        layer = self.api.LambdaGELU(per_channel=True, dtype="float64")
        model = keras.Sequential([keras.Input((len(lams),), dtype="float64"), layer])
        layer.rho.assign(np.sqrt(np.asarray(lams) - 1.0))
        x = normal_quantiles(len(lams))
        optimizer = keras.optimizers.SGD(1e-3)
        if rule:
            assert self.api.register_lambda_update(optimizer, model) is optimizer
        model.compile(optimizer=optimizer, loss=lambda y_true, y_pred: -keras.ops.sum(keras.ops.mean(y_pred, axis=0)))
        before = np.log(np.asarray(layer.lam) - 1)
        model.fit(x, np.zeros_like(x), batch_size=len(x), epochs=1, verbose=0)
        return np.log(np.asarray(layer.lam) - 1) - before

    def relu_substitution(self):
        probe = sgd_task(9, n=2000)[0]
        x, y = sgd_task(0)
        runs = []
        for callbacks in ([], [self.api.HardeningCallback(TARGET, 96, 48)]):
            model = self._mlp(4)
            model.compile(optimizer=self.keras.optimizers.Adam(1e-2), loss="mse")
            history = model.fit(x, y, batch_size=64, epochs=24, shuffle=False, verbose=0, callbacks=callbacks)
            _, report = self.api.replace_lambda_gelu_with_relu(model, probe)
            runs.append(SimpleNamespace(loss=history.history["loss"][-1], max_abs_change=report.max_abs_change,
                                        relative_change=report.relative_change, unit_bound=report.unit_bound))
        return runs[0], runs[1], 4 * F32_EPS
