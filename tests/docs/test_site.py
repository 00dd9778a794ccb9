"""The docs site: it builds without warnings, every page and link exists, every formula of
the spec records is on its page as MathML, and Chromium renders that math (no raw TeX)."""

from __future__ import annotations

import dataclasses
import html.parser
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from docs_browser import Chromium, find_chromium

for _requirement in ("matplotlib", "latex2mathml"):  # docs/requirements.txt
    pytest.importorskip(_requirement, reason="the docs build needs docs/requirements.txt installed")

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "docs" / "build.py"
RAW_TEX = re.compile(r"\$|\\[A-Za-z]+")


def load_builder():
    module_spec = importlib.util.spec_from_file_location("sgblend_docs_build", BUILD)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


builder = load_builder()
# after the builder put the repository root and docs/ on sys.path
from docsite import accuracy, common, function_pages, speed, static_pages  # noqa: E402
from sgblend_spec import spec  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built by the real entry point, as `nox -s docs` runs it."""
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, str(BUILD), "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr
    return out


class _Text(html.parser.HTMLParser):
    """Visible text outside <pre>/<code>/<math>, plus every href/src/id."""

    def __init__(self):
        super().__init__()
        self.text: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("pre", "code", "math", "style", "script"):
            self._skip += 1
        for key in ("href", "src"):
            if key in attrs:
                self.links.append(attrs[key])
        if "id" in attrs:
            self.ids.add(attrs["id"])

    def handle_endtag(self, tag):
        if tag in ("pre", "code", "math", "style", "script"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def parse(path: Path) -> _Text:
    parser = _Text()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


# ----------------------------------------------------------------------------- static checks
def test_every_page_is_built(site):
    extra = static_pages.static_pages()  # docs/pages/*.html
    expected = {f"{n}.html" for n in (*common.FIXED_PAGES, *spec.FUNCTIONS, *(p.name for p in extra))}
    assert expected <= {p.name for p in site.glob("*.html")}
    for page in extra:  # in the navigation of every page, its fragment as the body
        assert page.body in (site / f"{page.name}.html").read_text(encoding="utf-8")
        for built in site.glob("*.html"):
            assert f'<a href="{page.name}.html">{common.esc(page.title)}</a>' in built.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", list(spec.FUNCTIONS))
def test_function_page_carries_every_formula_of_its_record(site, name):
    record = spec.FUNCTIONS[name]
    page = (site / f"{name}.html").read_text(encoding="utf-8")
    for quantity, latex in record.latex.items():
        assert common.math_html(latex, display=True) in page, (name, quantity)
    for identity in record.identities:
        assert common.math_html(identity.latex) in page
    for p in record.params:
        assert str(p.domain) in page
        if p.reparam:
            assert common.math_html(p.reparam.latex, display=True) in page
    for decision in record.decisions:
        assert common.esc(decision) in page
    for variant in record.variants:
        assert f'href="{variant.function}.html"' in page
    special = page[page.index("<h2>Special values</h2>"):page.index("<h2>Extrema</h2>")]
    for _, _, expected in record.special_values(record.defaults):
        assert f"<td>{common.esc(common.fmt_number(expected))}</td>" in special


@pytest.mark.parametrize("page", ["index", "tolerance", "accuracy", "speed", *spec.FUNCTIONS])
def test_no_raw_tex_in_page_text(site, page):
    text = "".join(parse(site / f"{page}.html").text)
    assert not RAW_TEX.search(text), RAW_TEX.search(text)


def test_tolerance_page_renders_the_ulp_docstring(site):
    from conformance import ulp

    page = (site / "tolerance.html").read_text(encoding="utf-8")
    first_sentence = " ".join(ulp.__doc__.split("\n\n")[1].split()).split(",")[0]
    assert common.inline_doc(first_sentence) in page
    for dtype, bounds in spec.ULP_BOUNDS.items():
        assert f"<td>{dtype}</td><td>{bounds['value']}</td><td>{bounds['derivative']}</td>" in page


def test_tolerance_page_renders_every_clause_of_the_input_contract(site):
    page = (site / "tolerance.html").read_text(encoding="utf-8")
    assert 'id="input-contract"' in page
    for clause in spec.INPUT_CONTRACT:
        assert f'id="contract-{common.esc(clause.key)}"' in page
        assert common.esc(clause.rule) in page and common.esc(clause.reason) in page


def test_internal_links_and_anchors_resolve(site):
    pages = {p.name: parse(p) for p in site.glob("*.html")}
    for name, parsed in pages.items():
        for link in parsed.links:
            url = urlparse(link)
            if url.scheme or link.startswith("//"):
                pytest.fail(f"{name} links outside the site (the site must work offline): {link}")
            target = unquote(url.path) or name
            assert (site / target).is_file(), f"{name}: broken link {link}"
            if url.fragment and target.endswith(".html"):
                assert url.fragment in pages[target].ids, f"{name}: missing anchor {link}"


def test_plots_are_svg_files(site):
    for name in spec.FUNCTIONS:
        images = [link for link in parse(site / f"{name}.html").links if link.startswith("img/")]
        assert len(images) == max(1, len(spec.FUNCTIONS[name].params))
        for image in images:
            content = (site / image).read_text(encoding="utf-8")
            assert "<svg" in content and "</svg>" in content


# ----------------------------------------------------------------------------- builder units
def test_accuracy_without_results_says_how_to_get_them(tmp_path):
    assert accuracy.load_results(tmp_path) == []
    assert "nox -s conformance" in accuracy.accuracy_page([], spec)
    assert "nox -s conformance" in accuracy.function_accuracy_html(spec.FUNCTIONS["gelu"], [], spec)


def _report(max_ulp, passed):
    return {
        "implementation": "fake", "version": "fake 1.0", "bounds": spec.ULP_BOUNDS,
        "entries": [
            {"function": "gelu", "dtype": "float32", "quantity": "value", "max_ulp": max_ulp, "bound": 1,
             "points": 10, "passed": passed, "worst": "x=-7.5 {}", "supported": True},
            {"function": "gelu", "dtype": "float32", "quantity": "x", "max_ulp": None, "bound": 2,
             "points": 0, "passed": True, "worst": "", "supported": False},
        ],
    }


def test_accuracy_tables_come_from_the_json_reports(tmp_path):
    (tmp_path / "fake.json").write_text(json.dumps(_report(37.0, False)))
    results = accuracy.load_results(tmp_path)
    assert [b for b, _ in results] == ["fake"]
    summary = accuracy.accuracy_page(results, spec)
    assert '<span class="fail"' in summary and "37" in summary and "x=-7.5 {}" in summary
    detail = accuracy.function_accuracy_html(spec.FUNCTIONS["gelu"], results, spec)
    assert "37" in detail and "n/a" in detail
    (tmp_path / "fake.json").write_text(json.dumps(_report(0.5, True)))
    summary = accuracy.accuracy_page(accuracy.load_results(tmp_path), spec)
    assert '<span class="fail"' not in summary and "every measured entry is within its bound" in summary


def test_speed_page_renders_the_benchmark_harness_output(tmp_path):
    from benchmarks import harness

    assert harness.load(tmp_path) == [] and "nox -s bench" in speed.speed_page([])

    def case(name, kind, work):
        return harness.Case(name, kind, f"{name} note", lambda x, dy: harness.Timed(
            lambda: sum(range(work)), (lambda: sum(range(2 * work))) if kind != "reference" else None,
            4096 if kind != "reference" else None))

    cases = [case("native gelu", "native", 20_000), case("sgblend", "spec", 40_000), case("floor", "reference", 1)]
    runs = harness.measure(cases, lambda n: (None, None), [1000], repeats=3, block=lambda r: None)
    rows = {r["name"]: r for r in runs[0]["rows"]}
    assert rows["native gelu"]["fwd_ratio"] == 1.0 and rows["native gelu"]["fwd_bwd_ratio"] == 1.0
    assert rows["sgblend"]["fwd_ratio"] == rows["sgblend"]["fwd_ms"] / rows["native gelu"]["fwd_ms"]
    assert rows["floor"]["fwd_bwd_ratio"] is None
    result = {"backend": "fake", "framework": "fake 1.0", "mode": "eager", "baseline": "native gelu",
              "machine": "test", "cpus": 1, "threads": 1, "dtype": "float32", "repeats": 3, "runs": runs}
    (tmp_path / "fake.json").write_text(json.dumps(result))
    page = speed.speed_page(harness.load(tmp_path))
    assert '<a href="sgblend.html"><code>sgblend</code></a>' in page and "1,000 elements" in page
    assert f"{rows['sgblend']['fwd_ratio']:.2f}×" in page and "0.0 MiB" in page and "floor note" in page
    assert "fake" in harness.table(result) and "sgblend" in harness.table(result)


def test_malformed_report_is_an_error_naming_the_file(tmp_path):
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(common.BuildError, match="broken.json"):
        accuracy.load_results(tmp_path)


def test_tex_in_a_plain_text_field_fails_the_build(monkeypatch):
    bad = dataclasses.replace(spec.FUNCTIONS["swish"], summary=r"x\,\sigma(\beta x)")
    monkeypatch.setitem(spec.FUNCTIONS, "swish", bad)
    with pytest.raises(common.BuildError, match="swish.summary"):
        function_pages.check_spec_coverage(spec)


def test_a_spec_field_the_builder_does_not_render_fails_the_build(monkeypatch):
    monkeypatch.setattr(function_pages, "RENDERED_FUNCTION_FIELDS", function_pages.RENDERED_FUNCTION_FIELDS - {"extrema"})
    with pytest.raises(common.BuildError, match="extrema"):
        function_pages.check_spec_coverage(spec)


def test_unknown_tex_macro_is_an_error():
    with pytest.raises(common.BuildError, match="TeX"):
        common.math_html(r"\notamacro{x}")


def test_a_page_fragment_in_docs_pages_becomes_a_page_in_the_navigation(tmp_path):
    (tmp_path / "check-your-implementation.html").write_text(
        '<h1 id="top">Check <em>your</em> implementation</h1>\n<p>Run the suite.</p>', encoding="utf-8")
    pages = static_pages.static_pages(tmp_path, taken=tuple(spec.FUNCTIONS))
    assert [(p.name, p.title) for p in pages] == [("check-your-implementation", "Check your implementation")]
    nav = [(p.name, p.title) for p in pages]
    html_page = common.page(pages[0].title, pages[0].body, list(spec.FUNCTIONS), nav)
    assert '<a href="check-your-implementation.html">Check your implementation</a>' in html_page
    assert "<title>Check your implementation · sgblend-spec</title>" in html_page
    assert "<p>Run the suite.</p>" in html_page
    from docsite import home

    assert 'href="check-your-implementation.html"' in home.index_page(spec, nav)


@pytest.mark.parametrize("name, text, message", [
    ("untitled", "<p>No heading.</p>", "no <h1>"),
    ("whole", "<!DOCTYPE html><html><body><h1>T</h1></body></html>", "body fragment"),
    ("api", "<h1>Mine</h1>", "collides"),
    ("gelu", "<h1>Mine</h1>", "collides"),
])
def test_a_bad_page_fragment_fails_the_build(tmp_path, name, text, message):
    (tmp_path / f"{name}.html").write_text(text, encoding="utf-8")
    with pytest.raises(common.BuildError, match=message):
        static_pages.static_pages(tmp_path, taken=tuple(spec.FUNCTIONS))


def test_docstring_rendering():
    out = common.doc_html("""Title line.

    * one ``a`` and
      more
    * two :mod:`b`

    Example::

        f(x)
    """)
    assert "<li>one <code>a</code> and more</li>" in out and "<code>b</code>" in out
    assert "<p>Example:</p>" in out and "<pre>f(x)</pre>" in out


# ----------------------------------------------------------------------------- in a browser
def test_chromium_renders_the_math_of_a_formula_page(site, tmp_path):
    executable = find_chromium()
    if executable is None:
        message = "Chromium is not installed (Debian: apt-get install chromium); set SGBLEND_CHROMIUM to use another"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    record = spec.FUNCTIONS["sgblend"]
    with Chromium(executable, tmp_path / "profile") as browser:
        page = browser.open((site / "sgblend.html").as_uri())
        text = page.evaluate("document.body.innerText")
        for raw in ("$", "\\frac", "\\sigma", "\\partial", "\\bigl"):
            assert raw not in text
        assert not RAW_TEX.search(text)
        assert "∂" in text and "σ" in text  # the math is there, as rendered symbols
        layout = page.evaluate("""(() => {
            const maths = [...document.querySelectorAll('math')];
            const box = e => e.getBoundingClientRect();
            return {
                count: maths.length,
                blocks: document.querySelectorAll('math[display="block"]').length,
                displays: [...new Set(maths.map(e => getComputedStyle(e).display))],
                empty: maths.filter(e => box(e).width === 0 || box(e).height === 0).length,
                fractions: [...document.querySelectorAll('mfrac')].map(
                    f => [box(f.children[0]).bottom, box(f.children[1]).top]),
                images: [...document.images].map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0]),
            };
        })()""")
        assert layout["blocks"] >= len(record.latex)
        # "math" / "block math" is the display of a native MathML layout (MathML Core)
        assert set(layout["displays"]) <= {"block math", "inline math", "math"}, layout["displays"]
        assert layout["empty"] == 0
        assert layout["fractions"], "the reparameterisation's da/dα should be a stacked fraction"
        for numerator_bottom, denominator_top in layout["fractions"]:
            assert numerator_bottom <= denominator_top + 1  # stacked, not run inline
        assert layout["images"] and all(ok for _, ok in layout["images"]), layout["images"]
        shot = page.screenshot(tmp_path / "sgblend.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    print(f"screenshot: {shot}")
