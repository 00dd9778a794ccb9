"""Keras 3 (TensorFlow): the authors' SG-Blend layer in a model trained with ``fit``.

The layer's α and β carry Keras constraints (α kept in [-1, 1], β in [0.1, 10]) that the
optimizer applies after each update, exactly like the authors' released layer.
"""
# requires: tensorflow

import keras
import numpy as np

from sgblend_spec import reference
from sgblend_spec.backends.tensorflow import SGBlend

keras.utils.set_random_seed(0)

blend = SGBlend()
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(16), blend, keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")

inputs = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
targets = (inputs**2).sum(axis=1, keepdims=True)
history = model.fit(inputs, targets, epochs=10, batch_size=16, verbose=0)
losses = history.history["loss"]
print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}")
assert losses[-1] < losses[0]

weights = {
    name: float(keras.ops.convert_to_numpy(getattr(blend, name)).reshape(-1)[0])
    for name in ("alpha", "beta", "gamma")
}
print("layer weights", weights)
assert -1.0 <= weights["alpha"] <= 1.0 and 0.1 <= weights["beta"] <= 10.0

# The layer evaluates the same formulas as the NumPy reference.
x = np.linspace(-4.0, 4.0, 9).astype("float32")
expected = reference.sgblend(x, **{k: np.float64(weights[k]) for k in ("alpha", "beta", "gamma")})
np.testing.assert_allclose(np.asarray(blend(x)), expected, rtol=2e-7, atol=1e-30)
