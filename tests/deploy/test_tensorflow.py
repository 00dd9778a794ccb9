"""TensorFlow / Keras: SavedModel (``model.export`` and ``tf.saved_model.save``) reloaded in a
fresh process, TFLite with built-in ops only in the interpreter, and training under
``tf.distribute.MirroredStrategy`` over 2 logical CPUs, each against the Keras model.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from deploy_compare import bitwise, fast_close  # noqa: E402
from sgblend_spec.backends.tensorflow import GELU, LambdaGELU, SGBlend, SSwish, Swish, numerics  # noqa: E402

ACTIVATIONS = {"sgblend": SGBlend, "sgblend_gelu": lambda: SGBlend(gelu="exact"), "lambda_gelu": LambdaGELU,
               "gelu": GELU, "sswish": SSwish, "swish": Swish}


def build(name: str):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), ACTIVATIONS[name](), keras.layers.Dense(4)])


def inputs(batch: int) -> np.ndarray:
    return (np.random.default_rng(batch).standard_normal((batch, 8)) * 3).astype(np.float32)


RELOAD = textwrap.dedent(
    """
    import sys, numpy as np, tensorflow as tf
    loaded = tf.saved_model.load(sys.argv[1])
    x = tf.constant(np.load(sys.argv[2]))
    fn = getattr(loaded, sys.argv[4])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
        y = list(y.values())[0] if isinstance(y, dict) else y
        total = tf.reduce_sum(y)
    grad = tape.gradient(total, x)
    np.savez(sys.argv[3], y=y.numpy(), grad=np.zeros(0) if grad is None else grad.numpy())
    assert not any(m.startswith("sgblend_spec") for m in sys.modules)  # no library needed to serve
    """
)


def reload_in_fresh_process(path, x, endpoint, tmp_path):
    np.save(tmp_path / "x.npy", x)
    run = subprocess.run([sys.executable, "-c", RELOAD, str(path), str(tmp_path / "x.npy"), str(tmp_path / "out.npz"),
                          endpoint], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    out = np.load(tmp_path / "out.npz")
    return out["y"], out["grad"]


def keras_value_and_grad(model, x):
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = model(xt)
        total = tf.reduce_sum(y)
    return y.numpy(), tape.gradient(total, xt).numpy()


@pytest.mark.parametrize("name", ["sgblend", "lambda_gelu"])
def test_keras_export_savedmodel_in_a_fresh_process(name, tmp_path):
    model = build(name)
    model.export(str(tmp_path / "model"))
    x = inputs(33)
    y, _ = reload_in_fresh_process(tmp_path / "model", x, "serve", tmp_path)
    bitwise(y, model(x).numpy())


@pytest.mark.parametrize("name", ["sgblend", "lambda_gelu"])
def test_tf_saved_model_save_with_gradients_in_a_fresh_process(name, tmp_path):
    """tf.saved_model.save keeps the custom gradient (SaveOptions' experimental_custom_gradients,
    on by default): the reloaded function's x-gradient is the spec's grad formula."""
    model = build(name)
    module = tf.Module()
    module.model = model
    module.f = tf.function(lambda x: model(x), input_signature=[tf.TensorSpec([None, 8], tf.float32)])
    tf.saved_model.save(module, str(tmp_path / "module"))
    x = inputs(33)
    y, grad = reload_in_fresh_process(tmp_path / "module", x, "f", tmp_path)
    want_y, want_grad = keras_value_and_grad(model, x)
    bitwise(y, want_y)
    fast_close(grad, want_grad)  # graph vs eager Dense backward: float32 rounding of the matmuls
    _, graph_grad = keras_value_and_grad(module.f, x)
    bitwise(grad, graph_grad)  # the reloaded graph is this process's graph, custom gradient included


def to_tflite(model, tmp_path) -> bytes:
    # tflite_builtins(): the functions built on Φ trace with an erfc of built-in ops (TFLite
    # has no Erfc); the others are unaffected.
    with numerics.tflite_builtins():
        model.export(str(tmp_path / "model"))
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "model"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # built-in ops only
    return converter.convert()


@pytest.mark.parametrize("name", ["sgblend", "sgblend_gelu", "lambda_gelu", "gelu", "sswish", "swish"])
def test_tflite_builtin_ops_in_the_interpreter(name, tmp_path):
    model = build(name)
    interpreter = tf.lite.Interpreter(model_content=to_tflite(model, tmp_path))
    index = interpreter.get_input_details()[0]["index"]
    for batch in (1, 33):
        x = inputs(batch)
        interpreter.resize_tensor_input(index, x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, x)
        interpreter.invoke()
        got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        fast_close(got, model(x).numpy())  # TFLite's own float32 kernels: the fast bound


def test_tflite_erfc_is_as_accurate_as_tf_erfc():
    """The built-in-ops erfc (Cephes' float32 erfc) against math.erfc, in float32 ULPs, is no
    worse than tf.math.erfc's (both lose ~64 ULP near |t| = 9 to the rounding of t²)."""
    t = np.concatenate([np.linspace(-10, 10, 20001), [0.0, 1.0, -1.0, 2.0, -2.0, 30.0]]).astype(np.float32)
    exact = np.array([math.erfc(v) for v in t.astype(np.float64)])
    normal = exact > np.finfo(np.float32).tiny
    ulp = np.spacing(exact[normal].astype(np.float32)).astype(np.float64)

    def error(values):
        return float(np.max(np.abs(np.asarray(values, np.float64)[normal] - exact[normal]) / ulp))

    assert error(numerics.erfc_from_builtins(tf.constant(t))) <= error(tf.math.erfc(tf.constant(t))) + 2


def test_tflite_erfc_functions_need_the_builtins_context(tmp_path):
    """Without tflite_builtins() the Φ functions keep tf.math.erfc, which TFLite cannot convert."""
    build("lambda_gelu").export(str(tmp_path / "model"))
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "model"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    with pytest.raises(Exception, match="Erfc"):
        converter.convert()


MIRRORED = textwrap.dedent(
    """
    import json, numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from sgblend_spec.backends.tensorflow import LambdaGELU, SGBlend

    def train(strategy):
        with strategy.scope():
            keras.utils.set_random_seed(0)
            model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), SGBlend(), keras.layers.Dense(16),
                                      LambdaGELU(), keras.layers.Dense(1)])
            model.layers[1].beta.assign([-0.5])   # outside [0.1, 10]: the constraint must move it
            model.compile(optimizer=keras.optimizers.SGD(0.2), loss="mse")
        rng = np.random.default_rng(1)
        x = (rng.standard_normal((128, 8)) * 3).astype(np.float32)
        y = np.sin(x.sum(1, keepdims=True))
        model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
        return model

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    mirrored = train(strategy)
    single = train(tf.distribute.OneDeviceStrategy("/cpu:0"))
    replicas_identical = all(
        all(np.array_equal(np.asarray(r), np.asarray(strategy.experimental_local_results(v.value)[0]))
            for r in strategy.experimental_local_results(v.value))
        for v in mirrored.weights)
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "replicas_identical": bool(replicas_identical),
        "activation": {w.path: np.asarray(w.numpy()).tolist() for l in (mirrored.layers[1], mirrored.layers[3]) for w in l.weights},
        "max_rel_vs_one_device": max(float(np.max(np.abs(a.numpy() - b.numpy())) / max(1e-30, float(np.max(np.abs(b.numpy())))))
                                     for a, b in zip(mirrored.weights, single.weights)),
    }))
    """
)


def test_mirrored_strategy_over_2_logical_cpus():
    run = subprocess.run([sys.executable, "-c", MIRRORED], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-4000:]
    r = json.loads(run.stdout.strip().splitlines()[-1])
    assert r["replicas"] == 2 and r["replicas_identical"], r
    beta = next(v for k, v in r["activation"].items() if k.endswith("beta"))
    alpha = next(v for k, v in r["activation"].items() if k.endswith("alpha"))
    assert 0.1 <= beta[0] <= 10.0 and -1.0 <= alpha[0] <= 1.0, r  # the constraints were applied
    # The replicas' gradients are summed by an all-reduce (a different order than one device's
    # sum): the same training to float32 rounding.
    assert r["max_rel_vs_one_device"] <= 1e-4, r
