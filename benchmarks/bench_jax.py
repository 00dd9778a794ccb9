"""Jitted forward and forward+backward times of sgblend and lambda_gelu against jax.nn.gelu.

    python benchmarks/bench_jax.py [--sizes 1000000 16000000] [--repeats 7] [--x64 both]

Every time is the median of ``--repeats`` runs of a jitted call on float32 input (after a
compile-and-warm-up call), measured in the same process as the baseline, the native exact
GELU ``jax.nn.gelu(x, approximate=False)``; the ratios are what is reported. The
backward is ``jax.grad`` of ``sum(f(x))`` in x (what a layer's backward pass needs), so
fwd+bwd is ``value_and_grad``. With x64 on, float32 inputs are evaluated in float64 (the
accurate mode); with x64 off, in float32 — the difference is the cost of the float64
internal evaluation. Results go to benchmarks/results/jax.json.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import statistics
import time

import jax
import jax.numpy as jnp

from sgblend_spec.backends import jax as sj

CANDIDATES = {
    "gelu_native": lambda x: jax.nn.gelu(x, approximate=False),
    "sgblend": lambda x: sj.sgblend(x, alpha=0.0, beta=1.0, gamma=0.0),
    "lambda_gelu": lambda x: sj.lambda_gelu(x, lam=1.6931472),
}


def _median_ms(fn, x, repeats: int) -> float:
    jax.block_until_ready(fn(x))  # compile and warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(x))
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def measure(size: int, repeats: int) -> dict:
    x = jax.random.normal(jax.random.key(0), (size,), jnp.float32) * 3
    out = {}
    for name, f in CANDIDATES.items():
        forward = jax.jit(f)
        both = jax.jit(jax.value_and_grad(lambda v, f=f: jnp.sum(f(v))))
        out[name] = {"fwd_ms": _median_ms(forward, x, repeats), "fwd_bwd_ms": _median_ms(both, x, repeats)}
    base = out["gelu_native"]
    for name in CANDIDATES:
        out[name]["fwd_ratio"] = out[name]["fwd_ms"] / base["fwd_ms"]
        out[name]["fwd_bwd_ratio"] = out[name]["fwd_bwd_ms"] / base["fwd_bwd_ms"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 16_000_000])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--x64", choices=["on", "off", "both"], default="both")
    parser.add_argument("--out", default=str(pathlib.Path(__file__).parent / "results" / "jax.json"))
    args = parser.parse_args()
    modes = {"on": [True], "off": [False], "both": [False, True]}[args.x64]
    results = {
        "jax": jax.__version__,
        "device": str(jax.devices()[0].device_kind),
        "platform": platform.platform(),
        "dtype": "float32",
        "runs": {},
    }
    for x64 in modes:
        with jax.enable_x64(x64):
            mode = "x64_on" if x64 else "x64_off"
            results["runs"][mode] = {}
            for size in args.sizes:
                r = measure(size, args.repeats)
                results["runs"][mode][str(size)] = r
                print(f"\n{mode}  n={size:,}  ({results['device']})")
                print(f"  {'function':<14}{'fwd ms':>10}{'ratio':>8}{'fwd+bwd ms':>13}{'ratio':>8}")
                for name, v in r.items():
                    print(f"  {name:<14}{v['fwd_ms']:>10.2f}{v['fwd_ratio']:>8.2f}"
                          f"{v['fwd_bwd_ms']:>13.2f}{v['fwd_bwd_ratio']:>8.2f}")
    if {"x64_on", "x64_off"} <= set(results["runs"]):
        print("\ncost of the float64 internal evaluation (x64 on / x64 off, same function):")
        for size in args.sizes:
            for name in ("sgblend", "lambda_gelu"):
                on, off = results["runs"]["x64_on"][str(size)][name], results["runs"]["x64_off"][str(size)][name]
                print(f"  n={size:,} {name:<12} fwd {on['fwd_ms'] / off['fwd_ms']:.2f}x"
                      f"   fwd+bwd {on['fwd_bwd_ms'] / off['fwd_bwd_ms']:.2f}x")
    path = pathlib.Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
