"""PyTorch: the export paths (ONNX via the dynamo exporter into ONNX Runtime, torch.export,
AOTInductor, TorchScript trace → save → load in a fresh process) and distributed training
(DDP and FSDP2 over gloo, 2 processes), each against the eager module, default tier.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from deploy_compare import bitwise, fast_close
from sgblend_spec.backends.torch import LambdaGELU, SGBlend

ACTIVATIONS = {"sgblend": SGBlend, "lambda_gelu": LambdaGELU}


def build(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), ACTIVATIONS[name](), torch.nn.Linear(16, 4)).eval()


def inputs(batch: int) -> torch.Tensor:
    return torch.randn(batch, 8, generator=torch.Generator().manual_seed(batch)) * 3


BATCH = torch.export.Dim("batch", min=1, max=4096)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_onnx_dynamo_export_runs_in_onnxruntime(name, tmp_path):
    """Default ONNX Runtime session (all graph optimisations on), dynamic batch."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model = build(name)
    program = torch.onnx.export(model, (inputs(5),), dynamo=True, dynamic_shapes=({0: BATCH},), verbose=False)
    program.save(str(tmp_path / "model.onnx"))
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_session_options().graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    for batch in (1, 5, 33):
        x = inputs(batch)
        got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
        with torch.no_grad():
            fast_close(got, model(x).numpy())  # another runtime's float32 exp/erf: the fast bound


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_torch_export_module_is_bitwise(name):
    model = build(name)
    exported = torch.export.export(model, (inputs(5),), dynamic_shapes=({0: BATCH},))
    module = exported.module()
    for batch in (1, 5, 33):
        x = inputs(batch)
        with torch.no_grad():
            bitwise(module(x).numpy(), model(x).numpy())


def test_aot_inductor_package(tmp_path):
    """AOTInductor needs a C++ compiler; the package is loaded and run in this process."""
    if shutil.which("c++") is None and shutil.which("g++") is None and shutil.which("clang++") is None:
        pytest.skip("AOTInductor needs a C++ compiler (none on PATH)")
    model = build("sgblend")
    exported = torch.export.export(model, (inputs(5),), dynamic_shapes=({0: BATCH},))
    path = torch._inductor.aoti_compile_and_package(exported, package_path=str(tmp_path / "model.pt2"))
    loaded = torch._inductor.aoti_load_package(path)
    for batch in (1, 5, 33):
        x = inputs(batch)
        with torch.no_grad():
            fast_close(loaded(x).numpy(), model(x).numpy())  # inductor fuses and reorders float32 ops


LOAD = textwrap.dedent(
    """
    import sys, torch
    assert "sgblend_spec" not in sys.modules
    module = torch.jit.load(sys.argv[1])
    x = torch.load(sys.argv[2])
    y = module(x.requires_grad_())
    y.sum().backward()
    torch.save((y.detach(), x.grad), sys.argv[3])
    assert not any(m.startswith("sgblend_spec") for m in sys.modules)  # plain ops: no library needed
    """
)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_torchscript_trace_save_load_in_a_fresh_process(name, tmp_path):
    model = build(name)
    traced = torch.jit.trace(model, inputs(5))
    torch.jit.save(traced, str(tmp_path / "model.pt"))
    x = inputs(33)
    torch.save(x, tmp_path / "x.pt")
    run = subprocess.run([sys.executable, "-c", LOAD, str(tmp_path / "model.pt"), str(tmp_path / "x.pt"),
                          str(tmp_path / "out.pt")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    y, grad = torch.load(tmp_path / "out.pt")
    xe = x.clone().requires_grad_()
    want = model(xe)
    want.sum().backward()
    bitwise(y.numpy(), want.detach().numpy())  # the same float32 kernel ops, recorded by the trace
    fast_close(grad.numpy(), xe.grad.numpy())  # autograd through those ops vs the spec's grad formula


DISTRIBUTED = textwrap.dedent(
    """
    import json, os, sys
    import torch, torch.distributed as dist, torch.multiprocessing as mp
    from sgblend_spec.backends.torch import LambdaGELU, SGBlend, register_constraints

    FINISHED = []  # collective handles, released at exit by Python (see worker)

    def worker(rank, world, mode, port, out):
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=world)
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(8, 16), SGBlend(), torch.nn.Linear(16, 16), LambdaGELU(),
                                    torch.nn.Linear(16, 1))
        with torch.no_grad():
            model[1].beta.fill_(-0.5)   # outside [0.1, 10]: the constraint must move it after a step
        if mode == "ddp":
            wrapped = torch.nn.parallel.DistributedDataParallel(model)
        else:
            from torch.distributed.fsdp import fully_shard
            for layer in model:
                if any(True for _ in layer.parameters()):
                    fully_shard(layer)
            wrapped = fully_shard(model)
        optimizer = torch.optim.SGD(wrapped.parameters(), lr=0.2)
        register_constraints(optimizer, wrapped)
        g = torch.Generator().manual_seed(1 + rank)   # each rank its own data
        for _ in range(4):
            x = torch.randn(32, 8, generator=g) * 3
            y = torch.sin(x.sum(1, keepdim=True))
            loss = ((wrapped(x) - y) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        full = {k: (v.full_tensor() if hasattr(v, "full_tensor") else v).detach().clone()
                for k, v in wrapped.named_parameters()}
        flat = torch.cat([v.reshape(-1) for v in full.values()])
        gathered = [torch.empty_like(flat) for _ in range(world)]
        # Gloo's worker thread releases a finished collective's tensors itself when it holds the
        # last reference, which needs the GIL; during interpreter shutdown that aborts the rank
        # ("terminate called without an active exception"). Keeping the handle here until exit,
        # behind a barrier, leaves the last reference with Python.
        FINISHED.append(dist.all_gather(gathered, flat, async_op=True))
        FINISHED[-1].wait()
        if rank == 0:
            acts = {k.replace("module.", ""): v.tolist() for k, v in full.items()
                    if k.split(".")[-1] in ("alpha", "beta", "gamma", "rho")}
            json.dump({"identical": all(torch.equal(gathered[0], t) for t in gathered),
                       "max_rank_diff": max(float((gathered[0] - t).abs().max()) for t in gathered),
                       "activation_parameters": acts}, open(out, "w"))
        dist.barrier()
        dist.destroy_process_group()

    if __name__ == "__main__":
        mode, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
        mp.spawn(worker, args=(2, mode, port, out), nprocs=2, join=True)
    """
)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("mode", ["ddp", "fsdp2"])
def test_distributed_training_over_gloo(mode, tmp_path):
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    script = tmp_path / "train.py"
    script.write_text(DISTRIBUTED)
    out = tmp_path / "out.json"
    run = subprocess.run([sys.executable, str(script), mode, str(free_port()), str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads(out.read_text())
    assert result["identical"], result  # every learnable parameter, bitwise, on both ranks
    acts = result["activation_parameters"]
    (beta,) = next(v for k, v in acts.items() if k.endswith("1.beta"))
    (alpha,) = next(v for k, v in acts.items() if k.endswith("1.alpha"))
    assert 0.1 <= beta <= 10.0 and -1.0 <= alpha <= 1.0, acts  # the constraints were applied
    assert np.isfinite(next(v for k, v in acts.items() if k.endswith("3.rho"))).all()
