"""Stress training as ``spec.INPUT_CONTRACT``'s "training" clause states it, in every backend."""

from __future__ import annotations

import numpy as np
import pytest

from adapters import LEARNABLE, Unsupported


def _in_constraints(values: dict[str, np.ndarray]) -> list[str]:
    """Every parameter finite and where its layer keeps it: α ∈ [-1, 1] (or a = σ(α) ∈ [0, 1]
    when trained directly), β ∈ [0.1, 10] after each projected step, λ = 1 + ρ² ≥ 1."""
    problems = [f"{raw} not finite: {v.tolist()}" for raw, v in values.items() if not np.all(np.isfinite(v))]
    if "beta" in values and not np.all((values["beta"] >= 0.1) & (values["beta"] <= 10)):
        problems.append(f"beta outside [0.1, 10]: {values['beta'].tolist()}")
    if "alpha" in values and not np.all(np.abs(values["alpha"]) <= 1):
        problems.append(f"alpha outside [-1, 1]: {values['alpha'].tolist()}")
    if "a" in values and not np.all((values["a"] >= 0) & (values["a"] <= 1)):
        problems.append(f"a outside [0, 1]: {values['a'].tolist()}")
    if "lam" in values and not np.all(values["lam"] >= 1):
        problems.append(f"lam below 1: {values['lam'].tolist()}")
    return problems


@pytest.mark.parametrize("optimizer", ["adam-lr1", "sgd-lr10"])
@pytest.mark.parametrize("layer", list(LEARNABLE))
def test_stress_training_keeps_parameters_in_domain_and_outputs_finite(backend, layer, optimizer):
    """Clause "training": 1000 steps of Adam at lr = 1 or SGD at lr = 10 on random data (a
    dense-activation-dense classifier, cross-entropy on random labels, every parameter
    trained, the layer constraints applied after each update: torch register_constraints,
    Keras constraints in a tf.function graph, JAX ``constraints(name)`` in jitted lax.scan
    steps). After every step each parameter is finite and in its constraint and the outputs
    are finite. The SGD run clips the global gradient norm to 1: without clipping, SGD at
    lr = 10 drives this network's linear weights past 1e18 and its outputs to inf within ~20
    steps with ReLU or GELU too (measured), which no activation can prevent. The activation
    parameters still take steps of up to 10 per update, far outside their constraints before
    each projection."""
    try:
        trace, final_finite = backend.stress_train(layer, optimizer, steps=1000)
    except Unsupported as why:
        pytest.skip(str(why))
    assert len(trace) == 1000
    for step, (finite, values) in enumerate(trace):
        assert finite, f"step {step}: non-finite output"
        problems = _in_constraints(values)
        assert not problems, f"step {step}: {problems}"
    assert final_finite
