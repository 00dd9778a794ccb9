"""JAX: jax.export with symbolic dimensions (CPU, and CPU+CUDA without the CPU loop), and
sharded jit / shard_map over 4 simulated CPU devices, against the plain jitted call.

The sharding checks run in a subprocess: the device count is fixed when XLA starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgblend_spec.backends import jax as sj

PARAMS = {"sgblend": {"alpha": 0.375, "beta": 1.5, "gamma": -0.25}, "lambda_gelu": {"lam": 1.8125}}


def model(name):
    """x -> (f(x), ∂Σf/∂x, ∂Σf/∂params): value and every gradient, one function to export."""
    names = list(PARAMS[name])

    def loss(x, *p):
        return getattr(sj, name)(x, **dict(zip(names, p))).sum()

    def f(x, *p):
        y = getattr(sj, name)(x, **dict(zip(names, p)))
        return y, jax.grad(loss, argnums=tuple(range(1 + len(p))))(x, *p)

    return f, tuple(jnp.float32(v) for v in PARAMS[name].values())


def same(got, want):
    """Value and x-gradient bitwise; a parameter gradient (a sum over x) to float32 rounding of
    the sum: with a symbolic batch the sum is XLA's own, not the fixed blocks of SUM_BLOCK."""
    (y, (gx, *gp)), (wy, (wgx, *wgp)) = got, want
    np.testing.assert_array_equal(np.asarray(y), np.asarray(wy))
    np.testing.assert_array_equal(np.asarray(gx), np.asarray(wgx))
    for g, w in zip(gp, wgp):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5)


@pytest.fixture
def tiny_chunk(monkeypatch):
    """A CPU chunk of 8 elements: any concrete input of more than 32 would take the CPU loop."""
    monkeypatch.setattr(sj.numerics, "CPU_CHUNK", 8)


@pytest.mark.parametrize("name", list(PARAMS))
def test_export_symbolic_batch_roundtrip(name, tiny_chunk):
    f, params = model(name)
    b, = jax.export.symbolic_shape("b")
    spec_x = jax.ShapeDtypeStruct((b, 16), jnp.float32)
    scalars = tuple(jax.ShapeDtypeStruct((), jnp.float32) for _ in params)
    exported = jax.export.export(jax.jit(f), platforms=("cpu",))(spec_x, *scalars)
    assert "stablehlo.while" not in exported.mlir_module()
    restored = jax.export.deserialize(exported.serialize())
    for batch in (1, 3, 70):
        x = jnp.asarray(np.random.default_rng(batch).standard_normal((batch, 16)) * 4, jnp.float32)
        same(restored.call(x, *params), jax.jit(f)(x, *params))


def test_export_cpu_and_cuda_without_the_cpu_loop(tiny_chunk):
    """A multi-platform export runs on CPU; the CUDA lowering holds no chunk loop, even for a
    concrete shape large enough to take it on CPU."""
    f, params = model("sgblend")
    scalars = tuple(jax.ShapeDtypeStruct((), jnp.float32) for _ in params)
    b, = jax.export.symbolic_shape("b")
    both = jax.export.export(jax.jit(f), platforms=("cpu", "cuda"))(jax.ShapeDtypeStruct((b, 16), jnp.float32), *scalars)
    assert both.platforms == ("cpu", "cuda") and "stablehlo.while" not in both.mlir_module()
    x = jnp.asarray(np.linspace(-8, 8, 64 * 16).reshape(64, 16), jnp.float32)
    same(jax.export.deserialize(both.serialize()).call(x, *params), jax.jit(f)(x, *params))
    concrete = jax.ShapeDtypeStruct((64, 16), jnp.float32)
    cuda = jax.export.export(jax.jit(f), platforms=("cuda",))(concrete, *scalars)
    assert "stablehlo.while" not in cuda.mlir_module()
    cpu = jax.export.export(jax.jit(f), platforms=("cpu",))(concrete, *scalars)
    assert "stablehlo.while" in cpu.mlir_module()  # the loop is still there for CPU alone


def test_export_exact_tier_with_x64_is_bitwise(tiny_chunk):
    """The "exact" tier (float64 evaluation, jax_enable_x64 on) exports the same way."""
    with jax.enable_x64(True):
        def f(x):
            return sj.lambda_gelu(x, precision="exact"), jax.grad(lambda v: sj.lambda_gelu(v, precision="exact").sum())(x)

        b, = jax.export.symbolic_shape("b")
        exported = jax.export.export(jax.jit(f), platforms=("cpu", "cuda"))(jax.ShapeDtypeStruct((b, 16), jnp.float32))
        assert "stablehlo.while" not in exported.mlir_module()
        x = jnp.asarray(np.linspace(-8, 8, 70 * 16).reshape(70, 16), jnp.float32)
        for g, w in zip(jax.export.deserialize(exported.serialize()).call(x), jax.jit(f)(x)):
            np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


SHARDED = textwrap.dedent(
    """
    import json, re
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    from sgblend_spec.backends import jax as sj
    sj.numerics.CPU_CHUNK = 8   # inputs above 32 elements would take the loop on one device

    assert jax.device_count() == 4
    mesh = Mesh(np.array(jax.devices()), ("batch",))
    sharding = NamedSharding(mesh, P("batch"))
    params = {"alpha": jnp.float32(0.375), "beta": jnp.float32(1.5), "gamma": jnp.float32(-0.25)}

    def loss(x, p):
        return sj.sgblend(x, **p).sum()

    def step(x, p):
        return sj.sgblend(x, **p), jax.grad(loss, argnums=(0, 1))(x, p)

    rng = np.random.default_rng(0)
    x_host = (rng.standard_normal((256, 64)) * 4).astype(np.float32)
    one = jax.device_put(x_host, jax.devices()[0])
    want_y, (want_gx, want_gp) = jax.jit(step)(one, params)

    x = jax.device_put(x_host, sharding)
    jitted = jax.jit(step)
    hlo = jitted.lower(x, params).compile().as_text()
    y, (gx, gp) = jitted(x, params)

    def spmd(xb, p):   # shard_map: each device its block; the gradient of the replicated
        y, (gx, gp) = step(xb, p)   # parameters is summed over devices by shard_map's transpose
        return y, gx, gp
    sm = jax.jit(jax.shard_map(spmd, mesh=mesh, in_specs=(P("batch"), P()), out_specs=(P("batch"), P("batch"), P())))
    sy, sgx, sgp = sm(x, params)

    bits = lambda a, b: bool(np.array_equal(np.asarray(a).view(np.uint32), np.asarray(b).view(np.uint32)))
    rel = lambda a, b: max(float(abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)) / abs(np.asarray(b, np.float64))) for a, b in zip(a, b))
    print(json.dumps({
        "all_gathers": len(re.findall(r"all-gather", hlo)),
        "y_sharding": str(y.sharding.spec), "gx_sharding": str(gx.sharding.spec), "x_sharding": str(x.sharding.spec),
        "y_bitwise": bits(y, want_y), "gx_bitwise": bits(gx, want_gx),
        "gp_rel": rel([gp[k] for k in sorted(gp)], [want_gp[k] for k in sorted(want_gp)]),
        "shard_map_y_bitwise": bits(sy, want_y), "shard_map_gx_bitwise": bits(sgx, want_gx),
        "shard_map_gp_rel": rel([sgp[k] for k in sorted(sgp)], [want_gp[k] for k in sorted(want_gp)]),
    }))
    """
)


def test_sharded_jit_and_shard_map_over_4_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    run = subprocess.run([sys.executable, "-c", SHARDED], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    r = json.loads(run.stdout.strip().splitlines()[-1])
    assert r["all_gathers"] == 0, r
    assert r["y_sharding"] == r["gx_sharding"] == r["x_sharding"], r  # the x-gradient keeps x's sharding
    assert r["y_bitwise"] and r["gx_bitwise"] and r["shard_map_y_bitwise"] and r["shard_map_gx_bitwise"], r
    # Parameter gradients are sums over x: four partial sums added instead of one blocked sum,
    # so they agree to float32 rounding of the sum, not bitwise.
    assert r["gp_rel"] <= 1e-5 and r["shard_map_gp_rel"] <= 1e-5, r
