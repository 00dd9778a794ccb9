"""Issue #18 for PyTorch: swaps by name in the models people have (Hugging Face BERT, GPT-2,
Llama from tiny configs; timm's classes by qualified name) and save_pretrained /
from_pretrained round trips in a fresh process that keep the activation and its parameters."""

from __future__ import annotations

import os
import subprocess
import sys
import types

import pytest
import torch
from torch import nn

from sgblend_spec import activation_names
from sgblend_spec.backends.torch import SGBlend, SSwish, swap_activations

if os.environ.get("SGBLEND_TEST_BACKEND") == "torch":  # nox installs transformers: never skip there
    import transformers
else:
    transformers = pytest.importorskip("transformers")


def _bert():
    config = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=32)
    return transformers.BertModel(config)


def _gpt2():
    config = transformers.GPT2Config(vocab_size=50, n_embd=16, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=0)
    return transformers.GPT2Model(config)


def _llama():
    config = transformers.LlamaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                      num_key_value_heads=2, intermediate_size=32)
    return transformers.LlamaModel(config)


MODELS = {  # model -> (name swapped, the class each site had, the config entry recorded)
    "bert": (_bert, "gelu", "transformers.activations.GELUActivation", "hidden_act"),
    "gpt2": (_gpt2, "gelu", "transformers.activations.NewGELUActivation", "activation_function"),
    "llama": (_llama, "silu", "transformers.activations.SiLUActivation", "hidden_act"),
}

_RELOAD = """
import sys, torch
if sys.argv[2] == "backend-first":
    import sgblend_spec.backends.torch
    import transformers
else:
    import transformers
    import sgblend_spec.backends.torch
model = transformers.AutoModel.from_pretrained(sys.argv[1]).eval()
expected = torch.load(sys.argv[1] + "/expected.pt")
out = model(expected["ids"]).last_hidden_state
kinds = sorted({type(m).__name__ for m in model.modules() if type(m).__module__.startswith("sgblend_spec")})
print(kinds, (out - expected["out"]).abs().max().item(), torch.equal(out, expected["out"]))
"""


@pytest.mark.parametrize("order", ["transformers-first", "backend-first"])
@pytest.mark.parametrize("model_name", list(MODELS))
def test_swapped_pretrained_model_round_trips_bitwise_in_a_fresh_process(model_name, order, tmp_path):
    build, name, replaced, entry = MODELS[model_name]
    torch.manual_seed(0)
    model = build().eval()
    _, sites = swap_activations(model, name, SGBlend)
    assert len(sites) == 2 and set(sites.replaced.values()) == {replaced}
    assert getattr(model.config, entry) == "sgblend_spec.sgblend"
    with torch.no_grad():  # move the parameters off their initial values, as training would
        for module in model.modules():
            if isinstance(module, SGBlend):
                module.alpha.fill_(0.3), module.beta.fill_(1.7), module.gamma.fill_(-0.05)
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        out = model(ids).last_hidden_state
    model.save_pretrained(tmp_path)
    torch.save({"ids": ids, "out": out}, tmp_path / "expected.pt")
    run = subprocess.run([sys.executable, "-c", _RELOAD, str(tmp_path), order], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().splitlines()[-1] == "['SGBlend'] 0.0 True"


def test_a_swap_that_matches_nothing_lists_the_model_activations():
    model = _bert()
    with pytest.raises(ValueError, match=r"no silu activation.*GELUActivation"):
        swap_activations(model, "silu", SSwish)
    with pytest.raises(ValueError, match="old must be an activation class or one of"):
        swap_activations(model, "relu6", SSwish)


def test_per_channel_parameters_cannot_be_recorded_in_a_transformers_config():
    model = _bert()
    with pytest.raises(ValueError, match="scalar parameters"):
        swap_activations(model, "gelu", lambda m: SGBlend(num_parameters=32))
    assert {type(m).__name__ for m in model.modules()} >= {"GELUActivation"}  # unchanged
    _, sites = swap_activations(model, "gelu", lambda m: SGBlend(num_parameters=32), record_in_config=False)
    assert len(sites) == 2 and model.config.hidden_act == "gelu"


def test_timm_classes_match_by_qualified_name_without_importing_timm():
    """timm needs torchvision, whose only wheel here is a CUDA build that fails to load against
    the CPU torch, so timm's classes are stood in for by classes with timm's module names."""
    def timm_class(module: str, name: str) -> type:
        cls = types.new_class(name, (nn.Module,), exec_body=lambda ns: ns.update(forward=lambda self, x: x))
        cls.__module__ = module
        return cls

    gelu, quick = timm_class("timm.layers.activations", "GELU"), timm_class("timm.layers.activations", "QuickGELU")
    swish = timm_class("timm.layers.activations", "Swish")
    model = nn.Sequential(nn.Linear(4, 4), gelu(), nn.Linear(4, 4), quick(), swish(), nn.ReLU())
    _, sites = swap_activations(model, ("gelu", "silu"), SGBlend)
    assert sites == ["1", "3", "4"] and "timm" not in sys.modules
    assert sites.replaced == {"1": "timm.layers.activations.GELU", "3": "timm.layers.activations.QuickGELU",
                              "4": "timm.layers.activations.Swish"}
    assert all(activation_names.matches("gelu", c) for c in (nn.GELU, gelu))
    assert not activation_names.matches("gelu", nn.SiLU)


def test_torch_nn_classes_by_name_and_by_class():
    model = nn.Sequential(nn.Linear(3, 3), nn.GELU(approximate="tanh"), nn.SiLU(), nn.GELU())
    _, sites = swap_activations(model, "gelu", SGBlend)
    assert sites == ["1", "3"] and isinstance(model[2], nn.SiLU)
    _, sites = swap_activations(model, nn.SiLU, SSwish)
    assert sites == ["2"] and sites.replaced == {"2": "torch.nn.modules.activation.SiLU"}
