"""A naive float32 port of the authors' SG-Blend layer, written from the spec's formula (not
from their code) as a porter would write it first:

    F(x) = σ(α)·(x·σ(βx) − γ) + σ(−α)·x·σ(1.702x)

in float32 throughout (a narrower x is widened to float32, a float64 x is computed in
float32 too), with no care for tails, subnormals or cancellation, and no parameter checks.
``implementation`` wraps it with ``adapt.torch``; the suite rejects it with the table:

    sgblend-conformance --impl sgblend_spec.conformance.examples.naive_sgblend:implementation
"""

from __future__ import annotations

import torch

from .. import adapt


def sgblend(x: torch.Tensor, alpha=0.0, beta=1.0, gamma=0.0) -> torch.Tensor:
    x32 = x.to(torch.float32)
    alpha, beta, gamma = (torch.as_tensor(p, dtype=torch.float32) for p in (alpha, beta, gamma))
    y = torch.sigmoid(alpha) * (x32 * torch.sigmoid(beta * x32) - gamma) + torch.sigmoid(-alpha) * x32 * torch.sigmoid(1.702 * x32)
    return y.to(x.dtype)


implementation = adapt.torch(sgblend, function="sgblend", name="naive-float32-port")
