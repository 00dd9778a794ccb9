"""Write tests/keras/data/saved-<backend>.keras and its predictions under the active Keras backend.

Run once per backend (KERAS_BACKEND=tensorflow|jax|torch, each in its venv) when the saved
format changes; tests/keras/test_cross_backend.py loads every file under every backend.
``legacy-tensorflow.keras`` was saved by the TensorFlow-only layers before the precision tiers
(no "precision" in its configs) and is kept as it is.
"""

from __future__ import annotations

import os
import sys

import keras
import numpy as np

from sgblend_spec.backends import keras as B

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def model() -> keras.Model:
    """Every placement (fused into Conv1D/Dense/EinsumDense, standalone, Activation) and every layer."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 4))
    h = keras.layers.Conv1D(4, 3, padding="same", activation=B.SGBlend(per_channel=True), name="conv")(inputs)
    h = keras.layers.Dense(4, activation=B.SGBlend(), name="dense")(h)
    h = keras.layers.EinsumDense("abc,cd->abd", (6, 4), activation=B.LambdaGELU(), name="einsum")(h)
    h = B.SSwish(name="standalone")(h)
    h = keras.layers.Activation(B.SGBlend(gelu="tanh"), name="wrapped")(h)
    h = B.SGBlend(alpha_parameterization="direct", beta_initializer="ones", gelu="exact", name="direct")(h)
    h = B.Swish(beta=1.5, name="swish")(h)
    h = B.GELU(approximate="tanh", name="gelu")(h)
    h = keras.layers.Flatten(name="flat")(h)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(h))


def main() -> None:
    backend = keras.backend.backend()
    x = np.load(os.path.join(DATA, "x.npy"))
    m = model()
    m.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    m.fit(x, np.ones((3, 2), np.float32), epochs=2, verbose=0)
    m.save(os.path.join(DATA, f"saved-{backend}.keras"), zipped=True)
    np.save(os.path.join(DATA, f"saved-{backend}.npy"), keras.ops.convert_to_numpy(m(x)))
    print(f"wrote saved-{backend}.keras", file=sys.stderr)


if __name__ == "__main__":
    main()
