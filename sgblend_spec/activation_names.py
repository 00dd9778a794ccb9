"""Which activation classes and functions of the usual libraries are a GELU or a SiLU.

``swap_activations(model, "gelu", SGBlend)`` must find the GELUs that models really contain:
Hugging Face transformers and timm define their own classes (``GELUActivation``,
``NewGELUActivation``, timm's ``GELU`` …) rather than using ``torch.nn.GELU``. Classes are
matched by their qualified name (``module.QualName`` of any class in the MRO), so nothing here
imports those libraries, and a model built with them matches whether or not they import here.

The names:

* ``"gelu"``: every GELU form — exact x·Φ(x), the tanh approximation and the sigmoid
  ("quick", x·σ(1.702x)) approximation;
* ``"silu"``: SiLU / Swish-1, x·σ(x).
"""

from __future__ import annotations

from typing import Iterable

#: name -> qualified class names of torch.nn, Hugging Face transformers and timm.
TORCH_CLASSES: dict[str, tuple[str, ...]] = {
    "gelu": (
        "torch.nn.modules.activation.GELU",
        "transformers.activations.GELUActivation",  # exact ("gelu", "gelu_python")
        "transformers.activations.NewGELUActivation",  # tanh ("gelu_new": GPT-2)
        "transformers.activations.FastGELUActivation",  # tanh ("gelu_fast")
        "transformers.activations.GELUTanh",  # tanh ("gelu_pytorch_tanh")
        "transformers.activations.PytorchGELUTanh",  # older name of GELUTanh
        "transformers.activations.AccurateGELUActivation",  # tanh ("gelu_accurate")
        "transformers.activations.QuickGELUActivation",  # sigmoid ("quick_gelu": CLIP)
        "timm.layers.activations.GELU",
        "timm.layers.activations.GELUTanh",
        "timm.layers.activations.QuickGELU",
    ),
    "silu": (
        "torch.nn.modules.activation.SiLU",
        "transformers.activations.SiLUActivation",
        "timm.layers.activations.Swish",
        "timm.layers.activations_me.SwishMe",
    ),
}

#: name -> Keras activation function names (``keras.activations.get`` spellings).
KERAS_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "gelu": ("gelu",),
    "silu": ("silu", "swish"),
}

#: name -> JAX activation functions (``jax.nn``; ``flax.nnx`` re-exports the same objects).
JAX_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "gelu": ("gelu",),
    "silu": ("silu", "swish"),
}

NAMES = tuple(TORCH_CLASSES)


def check_name(caller: str, name: str) -> str:
    """``name`` if it is one of :data:`NAMES`; ValueError naming the argument otherwise."""
    if name not in TORCH_CLASSES:
        raise ValueError(f"{caller}: old must be an activation class or one of {list(NAMES)}, got {name!r}")
    return name


def qualified_names(cls: type) -> Iterable[str]:
    """``module.QualName`` of ``cls`` and of each of its bases."""
    for klass in getattr(cls, "__mro__", (cls,)):
        yield f"{klass.__module__}.{klass.__qualname__}"


def matches(name: str, cls: type) -> bool:
    """Is ``cls`` (or one of its bases) one of the library classes of the activation ``name``?"""
    wanted = TORCH_CLASSES[name]
    return any(q in wanted for q in qualified_names(cls))


def describe(cls: type) -> str:
    """The class as a user would import it: ``transformers.activations.GELUActivation``."""
    return f"{cls.__module__}.{cls.__qualname__}"


class Sites(list):
    """What ``swap_activations`` replaced: the sites (qualified names, a list as before) and
    :attr:`replaced`, site -> what it held ("gelu", "silu", or the class / function name)."""

    def __init__(self):
        super().__init__()
        self.replaced: dict[str, str] = {}

    def add(self, site: str, label: str) -> None:
        self.append(site)
        self.replaced[site] = label
