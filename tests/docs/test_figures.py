"""The accuracy and speed figures: the per-x samples the conformance run writes, the naive
float32 port they are compared with, and the inline SVGs rendered in headless Chromium."""

from __future__ import annotations

import json
import math
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

for _requirement in ("matplotlib", "latex2mathml"):  # docs/requirements.txt
    pytest.importorskip(_requirement, reason="the docs build needs docs/requirements.txt installed")

ROOT = Path(__file__).resolve().parents[2]
for _path in (ROOT, ROOT / "docs"):
    if str(_path) not in sys.path:
        sys.path.append(str(_path))

from conformance.samples import QUANTITIES, Samples, report_json  # noqa: E402
from docs_browser import Chromium, find_chromium  # noqa: E402
from docsite import accuracy, common, error_plots, naive, speed  # noqa: E402
from sgblend_spec import spec  # noqa: E402


# ----------------------------------------------------------------------------- the samples
def test_samples_keep_every_fixed_point_and_thin_the_random_ones():
    samples = Samples()
    samples.add("gelu", "float32", "value", 1.0, 3.0)
    assert samples.series() == []  # off until conftest turns it on
    samples.enabled = True
    for x, err in ((1.0, 0.0), (1.0, 2.0), (-0.0, 0.0), (3.0, math.inf)):  # the worst per x
        samples.add("gelu", "float32", "value", x, err)
    samples.add("gelu", "float32", "dxx", 1.0, 5.0)  # not a plotted quantity
    samples.source = "random"
    rng = np.random.default_rng(0)
    xs = np.concatenate([rng.standard_normal(20_000) * 10, np.ldexp(1.0, rng.integers(-149, 128, 20_000))])
    for x in xs.astype(np.float32).astype(np.float64):
        samples.add("gelu", "float32", "value", float(x), float(abs(x) % 3))
    (series,) = samples.series()
    assert (series["function"], series["dtype"], series["quantity"]) == ("gelu", "float32", "value")
    assert series["fixed_points"] == 3 and 100 < series["random_points"] <= 2000
    assert series["random_points"] <= len(series["x"]) <= series["fixed_points"] + series["random_points"]
    assert series["x"] == sorted(series["x"]) and "inf" in series["ulp"]
    assert series["ulp"][series["x"].index(1.0)] == 2.0
    assert set(QUANTITIES) == {"value", "x"}


def test_report_json_is_json_with_one_line_per_series():
    report = {"implementation": "fake", "entries": [{"function": "gelu"}]}
    series = [{"function": "gelu", "dtype": "float32", "quantity": q, "x": [0.0, 1.5], "ulp": [0, "inf"]}
              for q in QUANTITIES]
    text = report_json(report, series)
    assert json.loads(text) == {**report, "samples": series}
    assert sum('"quantity"' in line for line in text.splitlines()) == len(series)
    assert json.loads(report_json(report, [])) == report


def test_a_conformance_report_with_samples_stays_small():
    """< 2 MB for a backend in the worst case: a grid on every dtype, every random bin filled,
    every quantity of every function (measured on one function, times their number)."""
    from sgblend_spec.mp import FORMATS

    samples = Samples()
    samples.enabled = True
    for dtype in spec.DTYPES:
        fmt = FORMATS[dtype]
        exponents = np.arange(fmt.emin - fmt.precision + 2, fmt.emax + 1)
        mantissas = 0.5 + np.arange(8) / 16
        every_bin = np.ldexp(mantissas[None, :], exponents[:, None]).ravel()
        grid = np.exp2(np.linspace(fmt.emin - fmt.precision + 1, fmt.emax, 300))
        for quantity in QUANTITIES:
            for source, xs in (("grid", grid), ("random", every_bin)):
                samples.source = source
                for x in np.concatenate([-xs, xs]):
                    samples.add("sgblend", dtype, quantity, float(x), 1.234567)
    one_function = len(report_json({}, samples.series()).encode())
    assert one_function * len(spec.FUNCTIONS) < 2 * 2**20, one_function


# ----------------------------------------------------------------------------- the naive port
@pytest.mark.parametrize("name", list(spec.FUNCTIONS))
def test_naive_port_is_float32_and_right_in_the_middle(name):
    from sgblend_spec import reference

    params = spec.FUNCTIONS[name].defaults
    x = np.linspace(-3, 3, 61, dtype=np.float32)
    value, slope = naive.NAIVE[name](x, **params)
    assert value.dtype == np.float32 and slope.dtype == np.float32
    np.testing.assert_allclose(value, getattr(reference, name)(x.astype(np.float64), **params), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(slope, getattr(reference, name + "_grad")(x.astype(np.float64), **params)["x"],
                               rtol=1e-4, atol=1e-5)


def test_naive_port_misses_the_bound_where_a_hand_port_does():
    errors = naive.naive_errors("gelu", cases=[{}])
    x, value = errors["value"]
    assert value[x < -10].max() > 1e6  # ½(1 + erf(x/√2)) cancels to 0 in the tail
    assert value[np.abs(x) < 1e-30].max() <= 1


# ----------------------------------------------------------------------------- in a browser
def _fake_report(name, precision, max_ulp, functions=("gelu", "swish"), scale=1.0):
    samples = Samples()
    samples.enabled = True
    xs = np.concatenate([-np.logspace(-45, 38, 120), [0.0], np.logspace(-45, 38, 120)]).astype(np.float32)
    entries = []
    for function in functions:
        for quantity in QUANTITIES:
            for x in xs:
                samples.add(function, "float32", quantity, float(x), scale * abs(math.sin(float(x))) * max_ulp)
            bound = spec.ulp_bound(quantity, "float32")
            entries.append({"function": function, "dtype": "float32", "quantity": quantity, "max_ulp": max_ulp,
                            "bound": bound, "points": len(xs), "passed": max_ulp <= bound, "worst": "",
                            "supported": True})
    report = {"implementation": name, "version": "fake 1.0", "precision": precision, "bounds": spec.ULP_BOUNDS,
              "entries": entries}
    return json.loads(report_json(report, samples.series()))


def _bench(backend, precision):
    rows = [{"name": "F.gelu (exact)", "kind": "native", "note": "", "fwd_ms": 1.0, "fwd_bwd_ms": 2.0,
             "fwd_ratio": 1.0, "fwd_bwd_ratio": 1.0, "saved_bytes": 4096}]
    rows += [{"name": f, "kind": "spec", "note": "", "fwd_ms": 1.5, "fwd_bwd_ms": 2.4 + i, "fwd_ratio": 1.5,
              "fwd_bwd_ratio": 1.2 + i, "saved_bytes": 4096, "precision": precision}
             for i, f in enumerate(("sgblend", "lambda_gelu"))]
    rows.append({"name": "TransformerEncoderLayer step", "kind": "end_to_end", "note": "a model", "fwd_ms": 9.0,
                 "fwd_bwd_ms": 20.0, "fwd_ratio": 1.05, "fwd_bwd_ratio": 1.08, "saved_bytes": None})
    end_to_end = [{"name": "nn.GELU()", "kind": "native", "note": "", "precision": None, "fwd_ms": 5.0,
                   "fwd_ratio": 1.0, "fwd_bwd_ms": 10.0, "fwd_bwd_ratio": 1.0},
                  {"name": "SGBlend()", "kind": "spec", "note": "", "precision": precision, "fwd_ms": 5.2,
                   "fwd_ratio": 1.04, "fwd_bwd_ms": 10.7, "fwd_bwd_ratio": 1.07}]
    return {"backend": backend, "framework": "fake 1.0", "mode": "eager", "baseline": "F.gelu (exact)",
            "machine": "x86_64 test machine", "cpus": 2, "threads": 1, "dtype": "float32", "repeats": 3,
            "runs": [{"numel": 1 << 20, "rows": rows}], "end_to_end_model": "fake encoder block",
            "end_to_end": end_to_end}


@pytest.fixture(scope="module")
def figure_pages(tmp_path_factory) -> Path:
    """A gelu accuracy section, the accuracy page and the Speed page, from fake reports of two
    tiers, a native op and two bench results."""
    out = tmp_path_factory.mktemp("figures")
    results = [("fake", _fake_report("fake", "exact", 1.0)), ("fake-fast", _fake_report("fake", "fast", 4.0)),
               ("fake-native", _fake_report("fake-native", "exact", 5e8, functions=("gelu",), scale=1e3))]
    bodies = {
        "gelu": accuracy.function_accuracy_html(spec.FUNCTIONS["gelu"], results, spec),
        "accuracy": accuracy.accuracy_page(results, spec),
        "speed": speed.speed_page([_bench("torch", "exact"), _bench("torch", "fast")]),
    }
    (out / "style.css").write_text((ROOT / "docs" / "style.css").read_text())
    for name, body in bodies.items():
        (out / f"{name}.html").write_text(common.page(name, body, list(spec.FUNCTIONS)), encoding="utf-8")
    return out


@pytest.mark.parametrize("name, figure", [("gelu", "errors-gelu"), ("accuracy", "accuracy-summary"),
                                          ("speed", "speed-chart")])
def test_figures_are_inline_svg_with_their_series(figure_pages, name, figure):
    page = (figure_pages / f"{name}.html").read_text(encoding="utf-8")
    assert f'id="{figure}"' in page and page.count("<svg") == 1 and "<img" not in page
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert not re.search(r"(?:href|src)=\"(?:https?:)?//", svg)  # nothing to fetch
    ids = re.findall(r'\bid="([^"]+)"', svg)
    assert len(ids) == len(set(ids)) and all(i.startswith(figure) for i in ids)
    labels = {"gelu": ["fake (exact)", "fake-fast", "fake native op", error_plots.NAIVE_LABEL, "bound 1 ULP"],
              "accuracy": ["fake (exact)", "fake-fast", "fake native op", error_plots.NAIVE_LABEL],
              "speed": ["torch (exact)", "torch (fast)", "1.1×", "lambda_gelu", "TransformerEncoderLayer step",
                        "SGBlend()"]}
    for label in labels[name]:
        assert label in svg, label
    if name == "speed":
        assert "x86_64 test machine" in page
        assert "fake encoder block" in page and "SGBlend() [fast]" in page and "1.07×" in page
        assert "nn.GELU()" not in svg  # the end-to-end yardstick is 1 by definition


def test_figures_without_results_say_how_to_get_them():
    assert error_plots.error_figure(spec.FUNCTIONS["gelu"], [error_plots.Naive()]) is None
    assert speed.speed_figure([]) is None
    no_samples = [("old", {"implementation": "old", "precision": "exact", "entries": [
        {"function": "gelu", "dtype": "float32", "quantity": "value", "max_ulp": 1, "bound": 1, "points": 1,
         "passed": True, "worst": "", "supported": True}]})]
    assert "nox -s conformance" in accuracy.function_accuracy_html(spec.FUNCTIONS["gelu"], no_samples, spec)
    assert "<svg" in accuracy.accuracy_page(no_samples, spec)  # the summary needs only the table


def test_chromium_renders_the_figures_offline(figure_pages, tmp_path):
    executable = find_chromium()
    if executable is None:
        message = "Chromium is not installed (Debian: apt-get install chromium); set SGBLEND_CHROMIUM to use another"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with Chromium(executable, tmp_path / "profile") as browser:
        for name in ("gelu", "accuracy", "speed"):
            page = browser.open((figure_pages / f"{name}.html").as_uri(), width=1280, height=1000)
            drawn = page.evaluate("""(() => {
                const svg = document.querySelector('figure svg.figure');
                if (!svg) return null;
                const box = svg.getBoundingClientRect();
                const shapes = [...svg.querySelectorAll('path, use, rect')].filter(e => {
                    const b = e.getBoundingClientRect(); return b.width > 0 || b.height > 0; });
                return {width: box.width, height: box.height, shapes: shapes.length,
                        text: svg.querySelectorAll('text').length,
                        resources: performance.getEntriesByType('resource').map(r => r.name)};
            })()""")
            assert drawn is not None, name
            assert drawn["width"] > 600 and drawn["height"] > 250, (name, drawn)
            assert drawn["shapes"] > 50 and drawn["text"] > 10, (name, drawn)
            assert all(url.startswith("file:") for url in drawn["resources"]), drawn["resources"]
            shot = page.screenshot(tmp_path / f"{name}.png")
            assert shot.stat().st_size > 20_000
