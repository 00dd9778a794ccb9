"""TensorFlow backend speed, as ratios to TensorFlow's exact GELU measured in the same run.

    python benchmarks/bench_tensorflow.py [--sizes 1048576 16777216] [--repeats 5]

For each size (float32, CPU, every function under ``tf.function(jit_compile=True)``) it
times, median of ``--repeats`` runs after two warm-up calls (the first compiles):

* fwd: the forward pass;
* fwd+bwd: forward and the gradient for a random upstream gradient, in x and (for the
  layers) in every weight;

for ``tf.nn.gelu(approximate=False)`` (the yardstick), and for the SGBlend and LambdaGELU
layers (scalar weights, authors' defaults with β = 1) in two modes: ``spec`` (this
library: float64 evaluation, rounded once, which the accuracy bounds require) and
``fp32-native`` (the same formulas evaluated directly in float32 with TensorFlow autodiff,
which do NOT meet the bounds: shown only to price the float64 evaluation). Results are
printed and written as JSON to benchmarks/results/tensorflow.json.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from sgblend_spec import formulas  # noqa: E402
from sgblend_spec.backends import tensorflow as backend  # noqa: E402


def _median_ms(fn, repeats: int) -> float:
    for _ in range(2):  # warm-up: the first call compiles
        _block(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _block(fn())
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def _block(result) -> None:
    """Wait for every output (TensorFlow returns before the computation is done on some devices)."""
    for t in tf.nest.flatten(result):
        t.numpy()


def _native_fp32(layer: tf.keras.layers.Layer):
    """The layer's spec formulas evaluated directly in float32 with TF autodiff (no upcast)."""
    name = layer.function
    value = formulas.formulas_for(name)[0]

    def call(x):
        if name == "lambda_gelu":
            rho = tf.reshape(tf.convert_to_tensor(layer.rho), ())
            return value(backend.NAMESPACE, x, 1 + rho * rho)
        params = {n: tf.reshape(tf.convert_to_tensor(getattr(layer, n)), ()) for n in ("alpha", "beta", "gamma")}
        return value(backend.NAMESPACE, x, **params)

    return call


def _timed(fn, variables, x, dy, repeats: int) -> dict[str, float]:
    forward = tf.function(fn, jit_compile=True)

    @tf.function(jit_compile=True)
    def forward_backward(x, dy):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        return tape.gradient(y, [x, *variables], output_gradients=dy)

    return {
        "fwd_ms": _median_ms(lambda: forward(x), repeats),
        "fwd_bwd_ms": _median_ms(lambda: forward_backward(x, dy), repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1 << 20, 1 << 24])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results/tensorflow.json")
    args = parser.parse_args()

    results = {
        "framework": f"tensorflow {tf.__version__}",
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpus": os.cpu_count(),
        "dtype": "float32",
        "compiled": "tf.function(jit_compile=True)",
        "sizes": {},
    }
    for n in args.sizes:
        gen = tf.random.Generator.from_seed(0)
        x = gen.normal((n,), dtype=tf.float32) * 3
        dy = gen.normal((n,), dtype=tf.float32)
        rows = {"tf.nn.gelu(approximate=False)": _timed(lambda t: tf.nn.gelu(t, approximate=False), [], x, dy,
                                                        args.repeats)}
        for label, layer in (("SGBlend", backend.SGBlend(beta=1.0)), ("LambdaGELU", backend.LambdaGELU())):
            layer.build(x.shape)
            rows[f"{label} spec"] = _timed(layer, layer.trainable_variables, x, dy, args.repeats)
            rows[f"{label} fp32-native"] = _timed(_native_fp32(layer), layer.trainable_variables, x, dy, args.repeats)
        base = rows["tf.nn.gelu(approximate=False)"]
        for row in rows.values():
            row["fwd_ratio"] = row["fwd_ms"] / base["fwd_ms"]
            row["fwd_bwd_ratio"] = row["fwd_bwd_ms"] / base["fwd_bwd_ms"]
        results["sizes"][str(n)] = rows

        print(f"\n{n} float32 elements ({results['compiled']}, {results['cpus']} CPUs)")
        print(f"{'':34}{'fwd ms':>10}{'ratio':>8}{'fwd+bwd ms':>13}{'ratio':>8}")
        for label, row in rows.items():
            print(f"{label:34}{row['fwd_ms']:10.1f}{row['fwd_ratio']:8.2f}"
                  f"{row['fwd_bwd_ms']:13.1f}{row['fwd_bwd_ratio']:8.2f}")
        for label in ("SGBlend", "LambdaGELU"):
            spec_row, native = rows[f"{label} spec"], rows[f"{label} fp32-native"]
            print(f"  float64 evaluation costs {label}: fwd x{spec_row['fwd_ms'] / native['fwd_ms']:.2f}, "
                  f"fwd+bwd x{spec_row['fwd_bwd_ms'] / native['fwd_bwd_ms']:.2f} over fp32-native")

    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
