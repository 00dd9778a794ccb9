"""The JAX adapter (JAX, and Flax for the NNX layers, imported when the adapter is built)."""

from __future__ import annotations

import math
import os
from types import SimpleNamespace

import numpy as np

from . import LEARNABLE, SGBLEND_VARIANTS, TARGET, Adapter, Unsupported, check_options, normal_quantiles, sgd_task

FUNCTIONS = {"SSwish": "sswish", "SGBlend": "sgblend", "LambdaGELU": "lambda_gelu"}


class JaxAdapter(Adapter):
    name = "jax"
    modes = ("x64", "x32")  # jax_enable_x64 on and off: the tests that take ``mode`` run in both
    determinism_modes = ("eager", "jit")
    constructor_names_quoted = True

    def __init__(self):
        super().__init__()
        import jax
        import jax.numpy as jnp

        self.jax, self.jnp = jax, jnp

    @staticmethod
    def pin_threads(n):
        if n == 1:
            os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

    def mode(self, mode):
        return self.jax.enable_x64(mode == "x64")

    def float64(self):
        return self.jax.enable_x64(True)

    # ----------------------------------------------------------------- arrays and functions
    def native(self, values):
        return self.jnp.asarray(values)

    def from_numpy(self, a):
        return self.jnp.asarray(a)

    def is_native(self, t):
        return isinstance(t, self.jax.Array)

    def value_and_grads(self, name, x, params, jit=False):
        jax, jnp = self.jax, self.jnp
        arrays = [k for k, v in params.items() if isinstance(v, jax.Array)]

        def total(x, *values):
            y = getattr(self.api, name)(x, **{**params, **dict(zip(arrays, values))})
            return jnp.sum(y), y

        fn = jax.value_and_grad(total, argnums=tuple(range(1 + len(arrays))), has_aux=True)
        (_, y), grads = (jax.jit(fn) if jit else fn)(x, *(params[k] for k in arrays))
        return [np.asarray(t) for t in (y, *grads)]

    compilers = ("jit",)

    def compiled(self, compiler, function, quantity, x, params, precision):
        jax, jnp = self.jax, self.jnp
        names = list(params)

        def f(x, *values):
            y = getattr(self.api, function)(x, **dict(zip(names, values)), precision=precision)
            return y.sum() if quantity == "x" else y[0]

        if quantity == "value":
            run = jax.jit(lambda x, *values: getattr(self.api, function)(x, **dict(zip(names, values)), precision=precision))
        elif quantity == "dxx":  # elementwise: the x-gradient of the sum of x-gradients
            def dx_sum(x, *values):
                return jax.grad(lambda x: getattr(self.api, function)(
                    x, **dict(zip(names, values)), precision=precision).sum())(x).sum()

            run = jax.jit(jax.grad(dx_sum))
        else:
            run = jax.jit(jax.grad(f, argnums=0 if quantity == "x" else 1 + names.index(quantity)))
        return np.asarray(run(jnp.asarray(x), *(jnp.asarray(v, dtype=x.dtype) for v in params.values())))

    def broadcast_to(self, x, shape):
        return self.jnp.broadcast_to(x, shape)

    def tail_gradient(self, dtype, xs, precision="exact"):
        # Under jit: an eager jax.grad flushes subnormal float32 gradients (tests/jax, xfail).
        grad = self.jax.jit(self.jax.grad(lambda v: self.api.swish(v, precision=precision).sum()))
        return np.asarray(grad(self.jnp.asarray(xs, dtype)))

    # ----------------------------------------------------------------- layers
    def _function(self, cls, kwargs):
        if cls not in FUNCTIONS:
            raise Unsupported(f"the JAX backend has no {cls} layer")
        check_options(cls, kwargs, {"alpha", "beta", "gamma", "lam", "gelu", "dtype"})
        kwargs = dict(kwargs)
        function = SGBLEND_VARIANTS[kwargs.pop("gelu", None)] if cls == "SGBlend" else FUNCTIONS[cls]
        return function, kwargs

    def constructors(self, cls):
        def init_params(**kwargs):  # the pytree path
            function, kwargs = self._function(cls, kwargs)
            if cls != "LambdaGELU":
                kwargs.setdefault("beta", 1.0)
            if "dtype" in kwargs:
                kwargs["dtype"] = self.jnp.dtype(kwargs["dtype"])
            return self.api.init_params(function, **kwargs)

        def nnx_layer(**kwargs):
            if cls != "LambdaGELU":
                kwargs.setdefault("beta", 1.0)
            return self.layer(cls, **kwargs)

        return [init_params, nnx_layer]

    def layer(self, cls, channels=None, **kwargs):
        function, kwargs = self._function(cls, kwargs)
        if cls == "SGBlend":
            kwargs["function"] = function
        if "dtype" in kwargs:
            kwargs["param_dtype"] = self.jnp.dtype(kwargs.pop("dtype"))
        if channels is not None:
            kwargs["shape"] = (channels,)
        if cls != "LambdaGELU" and kwargs.get("beta") is None:
            from flax import nnx

            kwargs["rngs"] = nnx.Rngs(0)  # the authors' U(-√3, √3) draw for β
        return getattr(self.api, cls)(**kwargs)

    def assign(self, layer, raw, values):
        parameter = getattr(layer, raw)
        parameter[...] = self.jnp.asarray(values, parameter[...].dtype).reshape(parameter[...].shape)

    def call_layer(self, layer, x):
        return np.asarray(layer(x))

    def checkpoint(self, layer, tmp_path):
        raw = {k: np.asarray(getattr(layer, k)[...]).reshape(1) for k in ("alpha", "beta", "gamma")}
        params = self.api.import_parameters(layer.function, raw)
        return (lambda x: np.asarray(self.api.apply(layer.function, params, x))), {
            k: np.asarray(v) for k, v in params.items()}

    def stress_train(self, key, optimizer, steps):
        """jitted steps (lax.scan) of optax with ``constraints(name)`` after every update; under
        jit a bad parameter gives NaN, so each step records whether its outputs and every
        parameter (the dense layers' too) are finite, and the activation's parameters."""
        import optax

        jax, jnp, api = self.jax, self.jnp, self.api
        cls, values = LEARNABLE[key]
        values = dict(values)
        shape = (values.pop("channels"),) if "channels" in values else ()
        name, values = self._function(cls, values)
        k1, k2, k3, k4, k5 = jax.random.split(jax.random.key(9), 5)
        act = api.init_params(name, k5, shape=shape, **values)
        params = {"w1": jax.random.normal(k1, (8, 16)) / 3, "b1": jnp.zeros(16),
                  "w2": jax.random.normal(k2, (16, 4)) / 4, "b2": jnp.zeros(4), "act": act}
        x = jax.random.normal(k3, (64, 8)) * 3
        labels = jax.random.randint(k4, (64,), 0, 4)
        project = api.constraints(name)
        opt = optax.adam(1.0) if optimizer == "adam-lr1" else optax.chain(optax.clip_by_global_norm(1.0),
                                                                          optax.sgd(10.0))

        def forward(p):
            return api.apply(name, p["act"], x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]

        def loss(p):
            return optax.softmax_cross_entropy_with_integer_labels(forward(p), labels).mean()

        def step(carry, _):
            p, state = carry
            out = forward(p)
            updates, state = opt.update(jax.grad(loss)(p), state, p)
            p = optax.apply_updates(p, updates)
            p = {**p, "act": project(p["act"])}
            finite = jnp.all(jnp.isfinite(out))
            for leaf in jax.tree_util.tree_leaves(p):
                finite &= jnp.all(jnp.isfinite(leaf))
            return (p, state), (finite, p["act"])

        (final, _), (finite, acts) = jax.jit(
            lambda p: jax.lax.scan(step, (p, opt.init(p)), None, length=steps))(params)
        finite, acts = np.asarray(finite), {k: np.asarray(v) for k, v in acts.items()}
        trace = []
        for t in range(steps):
            values = {k: v[t] for k, v in acts.items()}
            if "rho" in values:
                values["lam"] = 1 + values["rho"] ** 2
            trace.append((bool(finite[t]), values))
        return trace, bool(np.all(np.isfinite(np.asarray(forward(final)))))  # eagerly: bad values would raise

    # ----------------------------------------------------------------- recipe
    def hardening_schedule(self, lam_target, ramp_steps, start_step=0):
        return self.api.harden({}, 0, lam_target, ramp_steps, start_step)

    def lambda_update(self, preactivation_std):
        return self.api.lambda_update(preactivation_std=preactivation_std)

    def sgd_step_log_lambda(self, lams, rule):
        import optax

        jax, jnp, api = self.jax, self.jnp, self.api
        with self.float64():
            x = jnp.asarray(normal_quantiles(len(lams)))
            params = {"rho": jnp.sqrt(jnp.asarray(lams) - 1)}
            grads = jax.grad(lambda p: -jnp.sum(jnp.mean(api.apply("lambda_gelu", p, x), axis=0)))(params)
            optimizer = optax.chain(api.lambda_update(), optax.sgd(1e-3)) if rule else optax.sgd(1e-3)
            updates, _ = optimizer.update(grads, optimizer.init(params), params)
            new = optax.apply_updates(params, updates)
            return np.log(np.asarray(new["rho"]) ** 2) - np.log(np.asarray(params["rho"]) ** 2)

    def _init(self, seed, width=32):
        jax, jnp = self.jax, self.jnp
        k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
        dense = lambda k, i, o: {"w": jax.random.normal(k, (i, o)) / math.sqrt(i), "b": jnp.zeros(o)}  # noqa: E731
        return {"d1": dense(k1, 2, width), "act1": self.api.init_params("lambda_gelu"),
                "d2": dense(k2, width, width), "act2": self.api.init_params("lambda_gelu", shape=(width,)),
                "out": dense(k3, width, 1)}

    def _forward(self, params, x, relu=False):
        act = (lambda p, h: self.jax.nn.relu(h)) if relu else (lambda p, h: self.api.apply("lambda_gelu", p, h))
        h = act(params["act1"], x @ params["d1"]["w"] + params["d1"]["b"])
        h = act(params["act2"], h @ params["d2"]["w"] + params["d2"]["b"])
        return h @ params["out"]["w"] + params["out"]["b"]

    def _train(self, params, steps, schedule=None):
        import optax

        jax, jnp = self.jax, self.jnp
        x, y = (jnp.asarray(a) for a in sgd_task(0))
        optimizer = optax.chain(self.api.lambda_update(), optax.adam(1e-2))
        state = optimizer.init(params)

        @jax.jit
        def step(params, state, xb, yb):
            loss, grads = jax.value_and_grad(lambda p: jnp.mean((self._forward(p, xb) - yb) ** 2))(params)
            updates, state = optimizer.update(grads, state, params)
            return optax.apply_updates(params, updates), state, loss

        for t in range(steps):
            batch = slice((t * 64) % 512, (t * 64) % 512 + 64)
            params, state, loss = step(params, state, x[batch], y[batch])
            if schedule is not None:
                params = self.api.harden(params, t + 1, *schedule)
        return params, float(loss)

    def relu_substitution(self):
        probe = self.jnp.asarray(sgd_task(9, n=2000)[0])
        runs = []
        for schedule in (None, (TARGET, 100, 50)):
            params, loss = self._train(self._init(4), 200, schedule)
            change = float(np.abs(self._forward(params, probe, relu=True) - self._forward(params, probe)).max())
            # JAX has no module surgery (no replace_lambda_gelu_with_relu): the change is measured, not reported
            runs.append(SimpleNamespace(loss=loss, max_abs_change=change, relative_change=None, unit_bound=None))
        return runs[0], runs[1], None
