"""Parameters as ``spec.INPUT_CONTRACT`` states it, in every backend: a bad value in every
form, the wrong type, bad constructor arguments, a corrupted layer parameter, and the
authors' checkpoint before its first update."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from sgblend_spec import spec

from adapters import Unsupported, bits

FUNCTIONS = list(spec.FUNCTIONS)
NAN, INF = math.nan, math.inf


def bad_values(parameter: spec.Parameter) -> list[float]:
    """Non-finite values and, where the domain has a finite lower end, values below it."""
    out = [NAN, INF, -INF]
    if math.isfinite(parameter.domain.lo):
        out += [parameter.domain.lo - 0.5, -1.0]
    return out


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_out_of_domain_parameter_is_rejected_in_every_form(backend, name):
    """Clause "param.domain": a Python float, a 0-d array, a per-channel array with one bad
    element, a NumPy array (and a TensorFlow variable) each raise ValueError naming the
    parameter and its domain."""
    x = backend.array(np.linspace(-3, 3, 6).reshape(2, 3), "float32")
    for p in spec.FUNCTIONS[name].params:
        for bad in bad_values(p):
            for form in backend.parameter_forms(bad, p.default):
                with pytest.raises(ValueError, match=rf"'{p.name}'.*{re.escape(str(p.domain))}"):
                    backend.call(name, x, **{p.name: form})


BAD_TYPES = {
    "native-int": lambda b: b.native(1), "native-bool": lambda b: b.native(True),
    "native-complex": lambda b: b.native(1 + 1j), "int64": lambda b: np.int64(1),
    "ndarray-int": lambda b: np.array([1, 2, 3]), "ndarray-complex": lambda b: np.array([1j]),
    "bool": lambda b: True, "complex": lambda b: 1j, "str": lambda b: "1.0", "list": lambda b: [1.0, 2.0],
}


@pytest.mark.parametrize("bad", list(BAD_TYPES))
def test_integer_bool_complex_and_non_numeric_parameters_are_type_errors(backend, bad):
    """Clause "param.type"; a Python int is a number and accepted."""
    x = backend.array(np.linspace(-3, 3, 3), "float32")
    with pytest.raises(TypeError, match="'beta'"):
        backend.call("sswish", x, beta=BAD_TYPES[bad](backend))
    assert backend.to_numpy(backend.call("sswish", x, beta=1)).dtype == np.float32


_DOMAIN = {"beta": r"{q}beta{q}.*\[0\.1, 10\]", "alpha": r"{q}alpha{q}.*\[-1, 1\]", "lam": r"{q}lam{q}.*\[1, inf\)",
           "gamma": r"{q}gamma{q}.*\(-inf, inf\)", "swish": r"{q}beta{q}.*\[0, inf\)"}
CONSTRUCTOR_ERRORS = [
    *[("SSwish", {"beta": v}, ValueError, _DOMAIN["beta"]) for v in (0.0, -1.0, NAN, INF)],
    *[("SSwish", {"beta": v}, TypeError, "{q}beta{q}") for v in (True, "1", 1j)],
    *[("SSwish", {"gamma": v}, ValueError, _DOMAIN["gamma"]) for v in (NAN, INF)],
    ("SSwish", {"gamma": np.int64(1)}, TypeError, "{q}gamma{q}"),
    *[("SGBlend", {"alpha": v}, ValueError, _DOMAIN["alpha"]) for v in (1.5, -1.5, NAN)],
    ("SGBlend", {"alpha": 1j}, TypeError, "{q}alpha{q}"),
    *[("SGBlend", {"beta": v}, ValueError, _DOMAIN["beta"]) for v in (11.0, 10.5)],
    ("SGBlend", {"gamma": -INF}, ValueError, "{q}gamma{q}"),
    *[("LambdaGELU", {"lam": v}, ValueError, _DOMAIN["lam"]) for v in (0.999, 0.5, NAN, INF)],
    *[("LambdaGELU", {"lam": v}, TypeError, "{q}lam{q}") for v in (False, np.int32(2))],
    *[("Swish", {"beta": v}, ValueError, _DOMAIN["swish"]) for v in (-0.5, NAN)],
    *[(cls, {"dtype": d}, TypeError, None) for cls in ("SSwish", "SGBlend", "LambdaGELU", "GELU", "Swish")
      for d in ("int32", "complex64", "bool")],
]


@pytest.mark.parametrize("cls, kwargs, error, match", CONSTRUCTOR_ERRORS,
                         ids=[f"{c}-{k}" for c, k, _, _ in CONSTRUCTOR_ERRORS])
def test_constructor_rejects_invalid_parameters(backend, cls, kwargs, error, match):
    """Clause "layer.init": explicit values inside the layer constraint (else the domain), real
    numbers only, a real floating parameter dtype (Keras: the dtype policy). JAX: init_params
    and the NNX layer built on it, whose messages quote the parameter's name."""
    quote = "'" if backend.constructor_names_quoted else ""
    match = match.replace("{q}", quote) if match else backend.dtype_error(kwargs["dtype"])
    ran = 0
    for construct in backend.constructors(cls):
        try:
            with pytest.raises(error, match=match):
                construct(**kwargs)
        except Unsupported as why:
            pytest.skip(str(why))
        ran += 1
    assert ran


CORRUPTED = [("SSwish", "beta", "beta"), ("SGBlend", "gamma", "gamma"), ("LambdaGELU", "rho", "lam")]


@pytest.mark.parametrize("cls, raw, spec_name", CORRUPTED, ids=[c for c, _, _ in CORRUPTED])
def test_call_rejects_a_parameter_corrupted_after_construction(backend, cls, raw, spec_name):
    """Clause "param.domain" at call time: a NaN written into a layer's parameter (a diverged
    step, a manual edit) makes the next call raise, naming the spec parameter."""
    layer = backend.layer(cls) if cls == "LambdaGELU" else backend.layer(cls, beta=1.0)
    backend.assign(layer, raw, [NAN])
    x = backend.array(np.ones((2, 3)), "float32")
    if backend.layers_check_at_call:
        with pytest.raises(ValueError, match=f"'{spec_name}'"):
            backend.call_layer(layer, x)
    else:  # torch modules check where parameters change, never with a host read in forward
        assert np.isnan(backend.call_layer(layer, x)).all()  # never a number
        with pytest.raises(ValueError, match=f"'{spec_name}'"):
            backend.check_layer(layer)  # what register_constraints runs after each optimizer step


def test_checkpoint_of_the_authors_layer_before_its_first_update_loads(backend, tmp_path):
    """The layer constraint is not a load condition: β from U(-√3, √3) (glorot_uniform) may be
    ≤ 0 before the first projection, and that checkpoint (torch: a state dict; Keras: a saved
    model; JAX: import_parameters) must load and run."""
    source = backend.layer("SGBlend")
    backend.assign(source, "beta", [-1.25])
    call, parameters = backend.checkpoint(source, tmp_path)
    assert float(np.ravel(parameters["beta"])[0]) == -1.25
    x = backend.array(np.linspace(-4, 4, 8).reshape(2, 4), "float32")
    want = backend.call("sgblend", x, alpha=0.0, beta=-1.25, gamma=0.0)
    np.testing.assert_array_equal(bits(call(x)), bits(backend.to_numpy(want)))
