"""Hugging Face transformers: swapped activations that survive ``save_pretrained`` / ``from_pretrained``.

transformers builds a model's activations from its config by name
(``ACT2FN[config.hidden_act]``), so a model whose GELUs were swapped for SG-Blend would come
back from ``from_pretrained`` with GELUs, its learned α, β, γ reported as unexpected keys.
This module registers the library's modules in ``transformers.activations.ACT2FN`` under
:data:`NAMES` and, when :func:`~sgblend_spec.backends.torch.swap_activations` swaps every
activation that a config entry builds, writes that entry's new name into the config (and the
settings under ``config.sgblend_spec``). Reloading then builds the same modules, and the
parameters load by their state-dict keys.

Registration needs no action: it happens when this backend is imported after transformers,
or, if transformers is imported later, when ``transformers.activations`` is first imported
(an import hook). transformers is never imported by this library.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

from torch import nn

from .layers import SGBlend, SSwish, LambdaGELU

#: The names registered in ``transformers.activations.ACT2FN``: name -> (module class, kwargs).
NAMES: dict[str, tuple[type, dict]] = {
    "sgblend_spec.sgblend": (SGBlend, {"gelu": "sigmoid"}),
    "sgblend_spec.sgblend_gelu": (SGBlend, {"gelu": "exact"}),
    "sgblend_spec.sgblend_gelu_tanh": (SGBlend, {"gelu": "tanh"}),
    "sgblend_spec.sswish": (SSwish, {}),
    "sgblend_spec.lambda_gelu": (LambdaGELU, {}),
}
#: Config entries from which transformers' models build their activations.
CONFIG_KEYS = ("hidden_act", "activation_function", "hidden_activation", "hidden_act_fn")
_TARGET = "transformers.activations"


def register() -> None:
    """Add :data:`NAMES` to ``transformers.activations.ACT2FN`` and ``ACT2CLS`` (idempotent)."""
    activations = sys.modules[_TARGET]
    for name, entry in NAMES.items():
        activations.ACT2CLS[name] = entry
        activations.ACT2FN[name] = entry


def config_name(module: nn.Module) -> str:
    """The registered name that rebuilds ``module`` (scalar parameters only: a config entry
    builds every site with one constructor call, so per-channel widths cannot be recorded)."""
    for name, (cls, kwargs) in NAMES.items():
        if type(module) is cls and all(getattr(module, k) == v for k, v in kwargs.items()):
            if module.num_parameters != 1:
                raise ValueError(
                    f"swap_activations: a transformers model records its activation in its config by "
                    f"name, which rebuilds scalar parameters only; {type(module).__name__}"
                    f"(num_parameters={module.num_parameters}) cannot be saved that way. Use scalar "
                    f"parameters, or pass record_in_config=False and restore the swap after loading"
                )
            return name
    raise ValueError(
        f"swap_activations: {type(module).__name__} cannot be recorded in a transformers config; "
        f"recordable modules: {sorted({cls.__name__ for cls, _ in NAMES.values()})}"
    )


def is_pretrained_model(model: nn.Module) -> bool:
    """A transformers ``PreTrainedModel`` (checked without importing transformers)."""
    modeling = sys.modules.get("transformers.modeling_utils")
    return modeling is not None and isinstance(model, modeling.PreTrainedModel)


def record_in_config(model: nn.Module, was_swapped, replacement: nn.Module) -> list[str]:
    """Point every config entry whose activation class ``was_swapped`` (a predicate on classes)
    to ``replacement``'s registered name; returns the entries changed."""
    activations = sys.modules[_TARGET]
    name = config_name(replacement)
    changed = []
    for config in {id(c): c for c in _configs(model)}.values():
        for key in CONFIG_KEYS:
            value = getattr(config, key, None)
            if not isinstance(value, str) or value not in activations.ACT2CLS:
                continue
            entry = activations.ACT2CLS[value]
            cls = entry[0] if isinstance(entry, tuple) else entry
            if was_swapped(cls):
                setattr(config, key, name)
                config.sgblend_spec = {"activation": name, "replaced": value, "entry": key}
                changed.append(key)
    return changed


def _configs(model: nn.Module):
    """The model's config and its sub-configs (text_config, vision_config, ...)."""
    config = getattr(model, "config", None)
    if config is None:
        return
    yield config
    for value in vars(config).values():
        if hasattr(value, "to_dict") and any(hasattr(value, k) for k in CONFIG_KEYS):
            yield value


class _RegisterOnImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Registers :data:`NAMES` right after ``transformers.activations`` is first imported."""

    def find_spec(self, fullname, path, target=None):
        if fullname != _TARGET:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None:
            return None
        self._loader = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        register()


def install() -> None:
    """Register now if transformers' activations are imported, else when they are."""
    if _TARGET in sys.modules:
        register()
    elif not any(isinstance(f, _RegisterOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterOnImport())
