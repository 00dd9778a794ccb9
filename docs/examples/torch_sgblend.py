"""PyTorch: SG-Blend and λ-GELU as modules, trained with the authors' constraint semantics.

``SGBlend()`` is the authors' released layer (raw α = 0, β ~ U(-√3, √3), γ = 0, blend
partner x·σ(1.702x)); ``register_constraints`` clips α to [-1, 1] and β to [0.1, 10] after
every optimizer step, as the Keras constraints do. ``LambdaGELU`` trains λ = 1 + ρ².
"""
# requires: torch

import torch
from torch import nn

from sgblend_spec import reference
from sgblend_spec.backends.torch import LambdaGELU, SGBlend, register_constraints, sgblend

torch.manual_seed(0)

# The functional form agrees with the NumPy reference (both come from the same formulas).
x = torch.linspace(-4.0, 4.0, 9, dtype=torch.float64)
assert torch.equal(sgblend(x, alpha=0.3, beta=2.0, gamma=0.1),
                   torch.from_numpy(reference.sgblend(x.numpy(), alpha=0.3, beta=2.0, gamma=0.1)))

# A small regression model with one shared SG-Blend and one λ-GELU.
blend = SGBlend()
model = nn.Sequential(nn.Linear(3, 16), blend, nn.Linear(16, 16), LambdaGELU(lam=2.5), nn.Linear(16, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
register_constraints(optimizer, model)  # project_() every activation after each step

inputs = torch.randn(64, 3)
targets = inputs.pow(2).sum(dim=1, keepdim=True)
losses = []
for step in range(20):
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(inputs), targets)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())

print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}")
print("alpha", blend.alpha.item(), "beta", blend.beta.item(), "gamma", blend.gamma.item())
print("lam", model[3].lam.item())
assert losses[-1] < losses[0]
assert -1.0 <= blend.alpha.item() <= 1.0 and 0.1 <= blend.beta.item() <= 10.0
assert model[3].lam.item() >= 1.0

# Second derivatives work (double backward): d²f/dx² matches the reference.
x = torch.linspace(-3.0, 3.0, 7, dtype=torch.float64, requires_grad=True)
(first,) = torch.autograd.grad(sgblend(x).sum(), x, create_graph=True)
(second,) = torch.autograd.grad(first.sum(), x)
assert torch.allclose(second, torch.from_numpy(reference.sgblend_dxx(x.detach().numpy())))
