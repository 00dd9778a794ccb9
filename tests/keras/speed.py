"""Speed of the Keras layers relative to ``keras.ops.gelu`` under the active Keras backend.

``KERAS_BACKEND=jax python tests/keras/speed.py``: forward + backward (∂/∂x and ∂/∂weights of
Σ f(x)) on 1M float32 elements, compiled the backend's way (tf.function(jit_compile=True),
jax.jit; torch runs eagerly, Keras' torch default, or torch.compile with ``--compile``),
median of repeats. Prints one line per activation: median ms and the ratio to keras.ops.gelu.
"""

from __future__ import annotations

import statistics
import sys
import time

import keras
import numpy as np

from sgblend_spec.backends import keras as B

N = 1 << 20
REPEATS = 15


def step_function(layer):
    """(x, values) -> (Σ layer(x), [∂/∂x, ∂/∂values]) compiled for the active backend."""
    backend = keras.backend.backend()

    def forward(x, values):
        if layer is None:
            return keras.ops.sum(keras.ops.gelu(x))
        return keras.ops.sum(layer.stateless_call(values, [], x)[0])

    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=True)
        def step(x, values):
            with tf.GradientTape() as tape:
                tape.watch(x)
                tape.watch(values)
                y = forward(x, values)
            return y, tape.gradient(y, [x, *values])

        return step, lambda t: [np.asarray(v) for v in tf.nest.flatten(t)]
    if backend == "jax":
        import jax

        step = jax.jit(jax.value_and_grad(forward, argnums=(0, 1)))
        return step, lambda t: jax.block_until_ready(t)
    import torch

    def step(x, values):
        x = x.detach().requires_grad_(True)
        values = [v.detach().requires_grad_(True) for v in values]
        y = forward(x, values)
        return y, torch.autograd.grad(y, [x, *values])

    if "--compile" in sys.argv:
        step = torch.compile(step)
    return step, lambda t: t


def measure(layer) -> float:
    x = keras.ops.convert_to_tensor(np.random.default_rng(0).normal(size=N).astype(np.float32))
    values = [keras.ops.convert_to_tensor(v) for v in (layer.trainable_variables if layer else [])]
    if layer is not None:
        layer(x[:8])
        values = [keras.ops.convert_to_tensor(v) for v in layer.trainable_variables]
    step, sync = step_function(layer)
    for _ in range(3):
        sync(step(x, values))
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        sync(step(x, values))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    keras.utils.set_random_seed(0)
    base = measure(None)
    print(f"{keras.backend.backend()}: keras.ops.gelu fwd+bwd {base * 1e3:.2f} ms (1M float32, median of {REPEATS})")
    cases = [("SGBlend() fast", B.SGBlend()), ("SGBlend() exact", B.SGBlend(precision="exact")),
             ("LambdaGELU() fast", B.LambdaGELU()), ("GELU() fast", B.GELU())]
    for name, layer in cases:
        try:
            t = measure(layer)
            print(f"  {name:18s} {t * 1e3:8.2f} ms  ratio {t / base:5.2f}")
        except Exception as error:  # the exact tier without float64 (JAX, x64 off)
            line = next((line for line in str(error).splitlines() if "precision" in line), str(error))
            print(f"  {name:18s} {type(error).__name__}: {line[:100]}")


if __name__ == "__main__":
    main()
