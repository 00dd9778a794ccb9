"""The λ-GELU training recipe in torch: schedule, λ-aware update, ReLU substitution, and the
activation swap. Training runs are small and seeded (a few hundred steps on a 2-D task)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sgblend_spec import hardening as H
from sgblend_spec.backends import torch as B
from sgblend_spec.backends.torch import (
    GELU,
    HardeningSchedule,
    LambdaGELU,
    SGBlend,
    lambda_parameter_groups,
    register_lambda_update,
    replace_lambda_gelu_with_relu,
    swap_activations,
)

TARGET = H.target_lam(0.01)  # 16.997…: ReLU substitution moves each unit by ≤ 0.01


def _task(seed: int, n: int = 512):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 2, generator=g, dtype=torch.float64) * 4 - 2
    y = torch.sin(2 * x[:, :1]) * torch.cos(x[:, 1:]) + 0.3 * x[:, :1]
    return x, y


def _mlp(seed: int, activation=LambdaGELU, width: int = 32) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, width), activation(), nn.Linear(width, width), activation(),
                         nn.Linear(width, 1)).double()


def _train(model, steps, schedule_args=None, lr=1e-2, seed=0):
    x, y = _task(seed)
    optimizer = torch.optim.Adam(lambda_parameter_groups(model), lr=lr)
    schedule = HardeningSchedule(model, *schedule_args) if schedule_args else None
    floors, lams = [], []
    for step in range(steps):
        batch = slice((step * 64) % 512, (step * 64) % 512 + 64)
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x[batch]), y[batch])
        loss.backward()
        optimizer.step()
        if schedule is not None:
            floors.append(schedule.step())
        lams.append(torch.cat([m.lam.detach().reshape(-1) for m in model.modules() if isinstance(m, LambdaGELU)]))
    return floors, torch.stack(lams), float(loss.detach())


# ----------------------------------------------------------------------------- schedule
def test_lambda_reaches_the_target_under_the_schedule_and_stays_learnable_before():
    ramp, start, steps = 60, 40, 130
    hardened = _mlp(0)
    floors, lams, _ = _train(hardened, steps, (TARGET, ramp, start))
    assert floors == [H.lam_floor(t, TARGET, ramp, start) for t in range(1, steps + 1)]
    # from the end of the ramp on every λ is at least the target (float64 parameters: exactly)
    assert bool((lams[start + ramp - 1:] >= TARGET).all())
    assert bool((lams[start + ramp - 1:] >= torch.tensor(floors[start + ramp - 1:])[:, None]).all())
    # before the floor binds, training is exactly the unscheduled one: the schedule only projects
    free = _mlp(0)
    _, free_lams, _ = _train(free, start)
    assert torch.equal(lams[:start], free_lams)
    assert float(free_lams[-1].max()) < 3.0  # unscheduled λ stays far from the target
    # deterministic: the same run twice gives the same parameters
    again = _mlp(0)
    _train(again, steps, (TARGET, ramp, start))
    for a, b in zip(hardened.parameters(), again.parameters()):
        assert torch.equal(a, b)


def test_projection_keeps_sign_raises_zero_to_the_positive_root_and_float32_rounds():
    act = LambdaGELU(num_parameters=4, dtype=torch.float32)
    with torch.no_grad():
        act.rho.copy_(torch.tensor([-0.5, 0.0, 2.0, 5.0]))
    schedule = HardeningSchedule(nn.Sequential(act), lam_target=10.0, ramp_steps=1)
    assert schedule.step() == 10.0
    assert act.rho.tolist() == pytest.approx([-3.0, 3.0, 3.0, 5.0])
    # float32 ρ: λ = 1 + ρ² is the target up to the rounding of ρ
    assert bool((act.lam >= 10.0 * (1 - 2 * torch.finfo(torch.float32).eps)).all())


def test_schedule_state_dict_resumes_the_same_trajectory():
    a, b = _mlp(1), _mlp(1)
    sa = HardeningSchedule(a, TARGET, 20, 5)
    for _ in range(12):
        sa.step()
    state = sa.state_dict()
    assert state == {"last_step": 12, "lam_target": TARGET, "ramp_steps": 20, "start_step": 5}
    sb = HardeningSchedule(b, 2.0, 3)
    sb.load_state_dict(state)
    assert sb.lam_floor == sa.lam_floor == H.lam_floor(12, TARGET, 20, 5)
    sb.project_()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_schedule_and_update_need_a_lambda_gelu():
    model = _mlp(0, activation=nn.GELU)
    with pytest.raises(ValueError, match="model has no LambdaGELU module"):
        HardeningSchedule(model, TARGET, 10)
    with pytest.raises(ValueError, match="model has no LambdaGELU module"):
        register_lambda_update(torch.optim.SGD(model.parameters(), lr=0.1), model)
    with pytest.raises(ValueError, match="model has no LambdaGELU module"):
        replace_lambda_gelu_with_relu(model, torch.zeros(1, 2, dtype=torch.float64))


# ----------------------------------------------------------------------------- λ-aware update
# (the SGD step in log λ independent of λ: tests/contract/test_hardening_recipe.py)
def test_lambda_update_leaves_adam_unchanged_while_gradients_exceed_eps():
    def run(rule: bool):
        model = _mlp(3)
        optimizer = torch.optim.Adam(lambda_parameter_groups(model), lr=1e-2)
        if rule:
            register_lambda_update(optimizer, model)
        x, y = _task(3)
        trajectory = []
        for step in range(15):
            optimizer.zero_grad()
            nn.functional.mse_loss(model(x[:128]), y[:128]).backward()
            optimizer.step()
            trajectory.append(torch.cat([m.rho.detach() for m in model.modules() if isinstance(m, LambdaGELU)]))
        return torch.stack(trajectory)

    plain, scaled = run(False), run(True)
    moved = (plain[-1] - plain[0]).abs().max()
    assert float(moved) > 1e-2
    # Adam divides by the gradient's RMS, so κ(λ) ≈ 3..4 here cancels: exactly up to ε on the
    # first step (both move ρ by lr·sign(g)), and up to κ's drift (λ 1.7 → 1.9) afterwards
    first = (plain[0] - scaled[0]).abs().max()
    assert float(first) < 1e-5 * 1e-2
    assert float((plain - scaled).abs().max()) < 0.03 * float(moved)


def test_lambda_update_hook_can_be_removed_and_checks_its_arguments():
    model = _mlp(0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    register_lambda_update(optimizer, model).remove()
    with pytest.raises(ValueError, match=r"preactivation_std must be a finite value in \(0, inf\), got -1.0"):
        register_lambda_update(optimizer, model, preactivation_std=-1.0)
    partial = torch.optim.SGD(model[0].parameters(), lr=0.1)
    with pytest.raises(ValueError, match="the rho of '1' is not a parameter of optimizer"):
        register_lambda_update(partial, model)


def test_parameter_groups_split_rho_without_weight_decay():
    model = _mlp(0)
    shared = model[1]
    model.append(shared)  # a module used twice: its ρ appears once
    groups = lambda_parameter_groups(model, lr=0.5)
    rhos = [m.rho for m in (model[1], model[3])]
    assert groups[1]["weight_decay"] == 0.0 and groups[1]["lr"] == 0.5
    assert [id(p) for p in groups[1]["params"]] == [id(p) for p in rhos]
    others = {id(p) for p in model.parameters()} - {id(p) for p in rhos}
    assert [id(p) for p in groups[0]["params"]] == [id(p) for p in model.parameters() if id(p) in others]
    optimizer = torch.optim.AdamW(groups, lr=1e-3, weight_decay=0.1)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.1, 0.0]
    assert lambda_parameter_groups(nn.Sequential(nn.ReLU())) == []


# ----------------------------------------------------------------------------- ReLU substitution
# (after hardening vs without: tests/contract/test_hardening_recipe.py)
def test_replace_lambda_gelu_with_relu_copies_by_default_and_reports_the_measured_change():
    model = _mlp(2)
    probe = _task(7)[0]
    relu_model, report = replace_lambda_gelu_with_relu(model, probe)
    assert report.sites == ("1", "3")
    assert [type(m) for m in relu_model] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert [type(m) for m in model] == [nn.Linear, LambdaGELU, nn.Linear, LambdaGELU, nn.Linear]
    with torch.no_grad():
        delta = (relu_model(probe) - model(probe)).abs()
    assert report.max_abs_change == pytest.approx(float(delta.max()), rel=1e-12)
    assert report.unit_bound == pytest.approx(H.relu_gap(1 + math.log(2)))
    same, _ = replace_lambda_gelu_with_relu(model, probe, inplace=True)
    assert same is model and isinstance(model[1], nn.ReLU)


def test_a_single_unit_moves_by_at_most_the_bound_and_reaches_it():
    act = LambdaGELU(lam=TARGET, dtype=torch.float64)
    x = torch.linspace(-1, 1, 100_001, dtype=torch.float64)
    relu, report = replace_lambda_gelu_with_relu(act, x)
    assert isinstance(relu, nn.ReLU) and report.sites == ("",)
    assert report.max_abs_change <= report.unit_bound * (1 + 1e-12)
    assert report.max_abs_change == pytest.approx(0.01, rel=1e-6)


def test_relu_ize_is_the_former_name_of_the_same_function():
    assert B.relu_ize is replace_lambda_gelu_with_relu


# ----------------------------------------------------------------------------- activation swap
class _Block(nn.Module):
    def __init__(self, act):
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 3, padding=1)
        self.norm = nn.BatchNorm1d(4)
        self.act = act
        self.heads = nn.ModuleDict({"a": nn.Sequential(nn.Linear(4, 4), nn.SiLU()), "b": nn.ReLU()})
        self.stack = nn.ModuleList([nn.Dropout(0.1), nn.GELU(approximate="tanh"), act])

    def forward(self, x):
        h = self.act(self.norm(self.conv(x))).mean(-1)
        h = self.heads["a"](h) + self.heads["b"](h)
        for m in self.stack:
            h = m(h)
        return h


def _snapshot(model):
    return ({name: (type(m), id(m)) for name, m in model.named_modules(remove_duplicate=False)},
            {k: v.clone() for k, v in model.state_dict().items()},
            {name: id(p) for name, p in model.named_parameters()})


def test_swap_preserves_every_other_module_parameter_and_buffer():
    torch.manual_seed(0)
    shared = nn.GELU()
    model = nn.Sequential(_Block(shared), nn.Linear(4, 2), nn.SiLU()).double()
    model(torch.randn(5, 3, 7, dtype=torch.float64))  # BatchNorm running stats become non-trivial
    model.eval()
    modules, state, params = _snapshot(model)
    swapped, sites = swap_activations(model, (nn.GELU, nn.SiLU), lambda m: SGBlend(beta=1.0))
    assert swapped is model
    assert sites == ["0.act", "0.heads.a.1", "0.stack.1", "0.stack.2", "2"]
    after_modules, after_state, after_params = _snapshot(model)
    untouched = [n for n in modules if not any(n == s or n.startswith(s + ".") for s in sites)]
    for name in untouched:
        if name in ("", "0", "0.heads", "0.heads.a", "0.stack"):  # containers: same object, new child
            assert after_modules[name][1] == modules[name][1]
            continue
        assert after_modules[name] == modules[name], name
    for key, value in state.items():
        assert torch.equal(after_state[key], value), key
    for name, pid in params.items():
        assert after_params[name] == pid
    new = [model.get_submodule(s) for s in sites]
    assert all(isinstance(m, SGBlend) for m in new)
    assert new[0] is new[3]  # the shared GELU got one shared replacement
    assert len({id(m) for m in new}) == 4
    assert all(m.alpha.dtype == torch.float64 and not m.training for m in new)
    assert set(after_state) - set(state) == {f"{s}.{p}" for s in sites for p in ("alpha", "beta", "gamma", "_extra_state")}
    model(torch.randn(5, 3, 7, dtype=torch.float64))


def test_swap_with_a_class_an_instance_and_the_root():
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 3), nn.ReLU())
    _, sites = swap_activations(model, nn.ReLU, GELU)
    assert sites == ["1", "3"] and isinstance(model[1], GELU) and model[1] is not model[3]
    one = SGBlend(beta=1.0)
    _, sites = swap_activations(model, GELU, one)
    assert model[1] is one and model[3] is one
    assert len(list(model.parameters())) == 4 + 3  # two Linear layers, one shared (α, β, γ)
    root = nn.SiLU()
    replaced, sites = swap_activations(root, nn.SiLU, LambdaGELU)
    assert isinstance(replaced, LambdaGELU) and sites == [""]
    with pytest.raises(ValueError, match=r"no Tanh activation in the model; its activation classes are \["):
        swap_activations(model, nn.Tanh, GELU)  # a swap that matches nothing is an error, never a silent no-op


@pytest.mark.parametrize("old, new, match", [
    (3, GELU, "old must be an nn.Module subclass, 'gelu', 'silu' or a tuple of them"),
    ((nn.GELU, int), GELU, "old must be an nn.Module subclass, 'gelu', 'silu' or a tuple of them"),
    ((), GELU, "old must name at least one activation"),
    (nn.GELU, 3, "new must be an nn.Module instance"),
    (nn.GELU, lambda m: "relu", r"new\(GELU\) returned str, not an nn.Module"),
])
def test_swap_rejects_bad_arguments(old, new, match):
    with pytest.raises(TypeError, match=match):
        swap_activations(nn.Sequential(nn.GELU()), old, new)
