"""The λ-GELU training recipe bound to torch modules and optimizers, and the activation swap.

The math (target, floor, projection, gradient scale, report) is :mod:`sgblend_spec.hardening`;
this module binds it: parameter groups, the λ-aware update hook, the hardening schedule,
:func:`swap_activations` and :func:`replace_lambda_gelu_with_relu` (formerly ``relu_ize``).
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn

from sgblend_spec import activation_names
from sgblend_spec import hardening as _hardening
from sgblend_spec.activation_names import Sites

from . import huggingface
from .layers import LambdaGELU
from .numerics import NAMESPACE, WORKING


def _lambda_modules(model: nn.Module) -> list[LambdaGELU]:
    """Every LambdaGELU of ``model`` once (a module shared by several sites counts once)."""
    return [m for m in model.modules() if isinstance(m, LambdaGELU)]


def lambda_parameter_groups(model: nn.Module, **rho_options) -> list[dict]:
    """Optimizer parameter groups: every parameter of ``model`` except the λ-GELU ρ's, then
    the ρ's with ``weight_decay=0`` (decay would pull λ toward 1) and ``rho_options``
    (e.g. ``lr=``). Empty groups are left out. Pass the result to any torch optimizer."""
    rhos = {id(m.rho): m.rho for m in _lambda_modules(model)}
    others = [p for p in model.parameters() if id(p) not in rhos]
    groups = [{"params": others}] if others else []
    if rhos:
        groups.append({"params": list(rhos.values()), "weight_decay": 0.0, **rho_options})
    return groups


def register_lambda_update(optimizer: torch.optim.Optimizer, model: nn.Module, preactivation_std: float = 1.0):
    """The λ-aware update: before each ``optimizer.step()``, multiply every λ-GELU ρ's
    gradient by κ(λ) = ((1 + λ²s²)/(1 + s²))^(3/2) (``hardening.lam_gradient_scale``), which
    undoes the λ⁻³ attenuation of E[∂f/∂λ] for pre-activations of standard deviation s.

    Under SGD it makes the step in log(λ − 1) independent of λ; under Adam-type optimizers it
    only moves the gradient away from ε (see ``sgblend_spec.hardening``). It acts after
    gradient clipping, which therefore sees the unscaled gradient. Returns the hook handle.
    """
    _hardening.lam_gradient_scale(1.0, preactivation_std)  # checks preactivation_std
    modules = _lambda_modules(model)
    if not modules:
        raise ValueError("register_lambda_update: model has no LambdaGELU module")
    optimised = {id(p) for group in optimizer.param_groups for p in group["params"]}
    for name, m in model.named_modules():
        if isinstance(m, LambdaGELU) and id(m.rho) not in optimised:
            raise ValueError(f"register_lambda_update: the rho of {name or 'model'!r} is not a parameter of optimizer")

    def scale(opt, args, kwargs) -> None:
        with torch.no_grad():
            for m in modules:
                if m.rho.grad is not None:
                    kappa = _hardening.lam_gradient_scale(m.lam.detach().to(WORKING), preactivation_std)
                    m.rho.grad.mul_(kappa.to(m.rho.grad.dtype))

    return optimizer.register_step_pre_hook(scale)


class HardeningSchedule:
    """The deterministic hardening schedule, stepped like an LR scheduler.

    Call :meth:`step` after each ``optimizer.step()``: it counts the step and projects every
    λ-GELU ρ of ``model`` onto 1 + ρ² ≥ λ_min(step), sign kept
    (``hardening.project_rho``). λ_min rises from 1 at ``start_step`` to ``lam_target`` at
    ``start_step + ramp_steps`` with 1/λ_min linear in the step (``hardening.lam_floor``),
    then holds, so λ ≥ ``lam_target`` from there on. ``lam_target`` is typically
    ``hardening.target_lam(tolerance)``. :meth:`state_dict` / :meth:`load_state_dict`
    save and restore the position, like a torch LR scheduler.
    """

    def __init__(self, model: nn.Module, lam_target: float, ramp_steps: int, start_step: int = 0):
        _hardening.lam_floor(0, lam_target, ramp_steps, start_step)  # checks every argument
        self.modules = _lambda_modules(model)
        if not self.modules:
            raise ValueError("HardeningSchedule: model has no LambdaGELU module")
        self.lam_target = float(lam_target)
        self.ramp_steps = int(ramp_steps)
        self.start_step = int(start_step)
        self.last_step = 0

    @property
    def lam_floor(self) -> float:
        """λ_min at the current step."""
        return _hardening.lam_floor(self.last_step, self.lam_target, self.ramp_steps, self.start_step)

    def step(self) -> float:
        """Count one optimizer step and project every ρ onto the new floor; returns the floor."""
        self.last_step += 1
        self.project_()
        return self.lam_floor

    def project_(self) -> None:
        """Project every ρ onto 1 + ρ² ≥ λ_min at the current step, in place."""
        floor = self.lam_floor
        if floor == 1.0:
            return
        with torch.no_grad():
            for m in self.modules:
                m.rho.copy_(_hardening.project_rho(NAMESPACE, m.rho, floor))

    def state_dict(self) -> dict:
        return {"last_step": self.last_step, "lam_target": self.lam_target, "ramp_steps": self.ramp_steps,
                "start_step": self.start_step}

    def load_state_dict(self, state: dict) -> None:
        _hardening.lam_floor(state["last_step"], state["lam_target"], state["ramp_steps"], state["start_step"])
        self.last_step = int(state["last_step"])
        self.lam_target = float(state["lam_target"])
        self.ramp_steps = int(state["ramp_steps"])
        self.start_step = int(state["start_step"])


def _old_matcher(old) -> tuple[Callable[[type], str | None], str]:
    """``old`` (a module class, "gelu", "silu", or a tuple of them) as a function of a class
    giving the label of what it matched ("gelu", "silu", the class name) or None."""
    items = old if isinstance(old, tuple) else (old,)
    if not items:
        raise TypeError("swap_activations: old must name at least one activation")
    for item in items:
        if isinstance(item, str):
            activation_names.check_name("swap_activations", item)
        elif not (isinstance(item, type) and issubclass(item, nn.Module)):
            raise TypeError(f"swap_activations: old must be an nn.Module subclass, 'gelu', 'silu' or a tuple "
                            f"of them, got {item!r}")

    def label(cls: type) -> str | None:
        for item in items:
            if isinstance(item, str) and activation_names.matches(item, cls):
                return item
            if isinstance(item, type) and issubclass(cls, item):
                return item.__name__
        return None

    return label, ", ".join(i if isinstance(i, str) else i.__name__ for i in items)


def _activation_classes(model: nn.Module) -> list[str]:
    """The classes of the parameter-free leaf modules of ``model`` (what an activation is)."""
    found = {
        activation_names.describe(type(m)) for m in model.modules()
        if not m._modules and not any(True for _ in m.parameters(recurse=False))
        and not isinstance(m, (nn.Dropout, nn.Identity))
    }
    return sorted(found)


def _factory(new) -> Callable[[nn.Module], nn.Module]:
    """new → a function of the replaced module giving its replacement."""
    if isinstance(new, nn.Module):
        return lambda replaced: new
    if isinstance(new, type) and issubclass(new, nn.Module):
        return lambda replaced: new()
    if callable(new):
        def call(replaced: nn.Module) -> nn.Module:
            made = new(replaced)
            if not isinstance(made, nn.Module):
                raise TypeError(f"new({type(replaced).__name__}) returned {type(made).__name__}, not an nn.Module")
            return made
        return call
    raise TypeError(
        "new must be an nn.Module instance (shared by every site), an nn.Module subclass (one "
        f"instance per site) or a callable taking the replaced module, got {new!r}"
    )


def _reference_tensor(*modules: nn.Module) -> torch.Tensor | None:
    for module in modules:
        for t in (*module.parameters(), *module.buffers()):
            if t.is_floating_point():
                return t
    return None


def swap_activations(model: nn.Module, old, new, *, record_in_config: bool = True):
    """Replace, in place, every submodule of ``model`` that is an ``old`` activation by ``new``.

    ``old``: a module class, ``"gelu"`` (every exact, tanh and sigmoid/quick GELU class of
    torch.nn, Hugging Face transformers and timm), ``"silu"`` (SiLU/Swish), or a tuple of
    these; library classes are matched by qualified name, so transformers and timm are never
    imported here (``sgblend_spec.activation_names`` lists them). ``new`` is an nn.Module
    subclass (``new()`` at each site), a callable taking the replaced module
    (``lambda m: SGBlend(num_parameters=...)``), or a module instance, which every site then
    shares (one parameter set, like the authors' SG-Blend). A module shared by several sites
    gets one shared replacement. New modules take the device and floating dtype of the
    replaced module (else of its parent, else of ``model``) and its train/eval mode; every
    other module, parameter and buffer is left as it was.

    Returns ``(model, sites)``: ``sites`` lists the qualified names replaced, depth-first, and
    ``sites.replaced`` maps each to the class it held. A swap that matches nothing raises
    ValueError listing the activation classes the model contains. If ``model`` itself is an
    ``old`` instance, the returned model is its replacement (and ``model`` is unchanged).
    On a transformers ``PreTrainedModel`` (with ``record_in_config``), each config entry whose
    activation was swapped (``hidden_act``, ``activation_function`` …) is set to the new
    module's registered name, so ``save_pretrained`` / ``from_pretrained`` rebuild it
    (``sgblend_spec.backends.torch.huggingface``).
    """
    label, wanted = _old_matcher(old)
    make = _factory(new)
    made: dict[int, nn.Module] = {}
    sites = Sites()

    def replacement(replaced: nn.Module, parent: nn.Module) -> nn.Module:
        if id(replaced) not in made:
            module = make(replaced)
            ref = _reference_tensor(replaced, parent, model)
            if ref is not None:
                module.to(device=ref.device, dtype=ref.dtype)
            made[id(replaced)] = module.train(replaced.training)
        return made[id(replaced)]

    if label(type(model)) is not None:
        sites.add("", activation_names.describe(type(model)))
        return replacement(model, model), sites
    targets: list[tuple[nn.Module, str, str, nn.Module]] = []
    inside_replaced: list[str] = []
    paths = list(model.named_modules(remove_duplicate=False))
    for path, module in paths:
        if any(path.startswith(p + ".") or path == p for p in inside_replaced):
            continue  # a child of a module that is being replaced goes with it
        for name, child in module._modules.items():  # not named_children: it hides repeats
            if child is not None and label(type(child)) is not None:
                qualified = f"{path}.{name}" if path else name
                targets.append((module, name, qualified, child))
                inside_replaced.append(qualified)
    if not targets:
        raise ValueError(f"swap_activations: no {wanted} activation in the model; its activation classes are "
                         f"{_activation_classes(model)}")
    if record_in_config and huggingface.is_pretrained_model(model):
        huggingface.config_name(replacement(targets[0][3], targets[0][0]))  # recordable? (raises before any change)
    order = {path: i for i, (path, _) in reversed(list(enumerate(paths)))}
    targets.sort(key=lambda target: order[target[2]])  # depth-first, as named_modules lists them
    for parent, name, qualified, child in targets:
        setattr(parent, name, replacement(child, parent))
        sites.add(qualified, activation_names.describe(type(child)))
    if record_in_config and huggingface.is_pretrained_model(model):
        huggingface.record_in_config(model, lambda cls: label(cls) is not None, made[id(targets[0][3])])
    return model, sites


def _flat_outputs(out) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out.detach().reshape(-1).to(WORKING)
    if isinstance(out, dict):
        out = [out[k] for k in sorted(out)]
    if isinstance(out, (tuple, list)) and out:
        return torch.cat([_flat_outputs(o) for o in out])
    raise TypeError("replace_lambda_gelu_with_relu: the model must return a tensor or a tuple/list/dict of "
                    f"tensors, got {type(out).__name__}")


def replace_lambda_gelu_with_relu(model: nn.Module, inputs, *,
                                  inplace: bool = False) -> tuple[nn.Module, _hardening.SubstitutionReport]:
    """Replace every LambdaGELU of ``model`` by ``nn.ReLU`` and measure what that changes.

    ``inputs``: a tensor, or a tuple of positional arguments, to run both models on (in eval
    mode, under no_grad; each model's mode is restored). Returns ``(relu_model, report)``,
    ``report`` a ``hardening.SubstitutionReport``: the replaced sites, the max/mean absolute
    and the relative change of the outputs, and the per-unit bound c/λ_min
    (0.16997/λ_min). ``relu_model`` is a deep copy unless ``inplace=True``.
    """
    modules = dict(model.named_modules(remove_duplicate=False))
    lams = [m.lam.detach().cpu().numpy() for m in modules.values() if isinstance(m, LambdaGELU)]
    if not lams:
        raise ValueError("replace_lambda_gelu_with_relu: model has no LambdaGELU module")
    args = inputs if isinstance(inputs, tuple) else (inputs,)

    def outputs(m: nn.Module) -> torch.Tensor:
        mode = m.training
        try:
            with torch.no_grad():
                return _flat_outputs(m.eval()(*args))
        finally:
            m.train(mode)

    before = outputs(model)
    target = model if inplace else copy.deepcopy(model)
    relu_model, sites = swap_activations(target, LambdaGELU, nn.ReLU, record_in_config=False)
    after = outputs(relu_model)
    report = _hardening.substitution_report(sites, before.cpu().numpy(), after.cpu().numpy(), lams)
    return relu_model, report


#: The former name of :func:`replace_lambda_gelu_with_relu` (the same function).
relu_ize = replace_lambda_gelu_with_relu
