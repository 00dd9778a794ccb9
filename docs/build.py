"""Build the sgblend-spec reference site into ``docs/_site/`` (the single entry point).

    python docs/build.py [--out DIR] [--results DIR] [--bench DIR]

Every formula, domain, default, special value, identity and decision on the site is read
from the records in :mod:`sgblend_spec.spec`; nothing is typed twice. LaTeX is converted to
MathML at build time (browsers render MathML natively), so the site needs no script and no
network. Plots are drawn with matplotlib from the NumPy reference. Accuracy tables are read
from ``conformance-results/*.json`` (written by ``nox -s conformance``), speed tables from
``benchmarks/results/*.json`` (written by ``nox -s bench``), hand-written pages from
``docs/pages/*.html``. The pages are made by the package ``docs/docsite/``, one module per
page kind. Any warning raised while building is an error.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# `conformance` and `benchmarks` are not installed packages; the repository root provides
# them (and `sgblend_spec` when the project is not installed), docs/ provides `docsite`.
# Appended, so an installed copy wins.
for _path in (ROOT, DOCS):
    if str(_path) not in sys.path:
        sys.path.append(str(_path))

from docsite import accuracy, api, common, function_pages, home, plots, speed, static_pages  # noqa: E402


def build(out: Path, results_dir: Path, bench_dir: Path = ROOT / "benchmarks" / "results",
          pages_dir: Path = static_pages.PAGES_DIR) -> list[Path]:
    """Write the site into ``out`` (emptied first). Returns the pages written."""
    from benchmarks import harness
    from sgblend_spec import reference, spec

    function_pages.check_spec_coverage(spec)
    extra = static_pages.static_pages(pages_dir, taken=tuple(spec.FUNCTIONS))
    extra_nav = [(p.name, p.title) for p in extra]
    if out.exists():
        shutil.rmtree(out)
    (out / "img").mkdir(parents=True)
    shutil.copy(DOCS / "style.css", out / "style.css")
    results = accuracy.load_results(results_dir)
    pages = {
        "index": ("sgblend-spec", home.index_page(spec, extra_nav)),
        "tolerance": ("Accuracy contract", accuracy.tolerance_page(spec)),
        "accuracy": ("Measured accuracy", accuracy.accuracy_page(results, spec)),
        "speed": ("Measured speed", speed.speed_page(harness.load(bench_dir))),
        "api": ("API reference", api.api_page(spec)),
        "examples": ("Examples", home.examples_page()),
    }
    for name, record in spec.FUNCTIONS.items():
        figures = plots.draw_plots(record, reference, out / "img")
        section = accuracy.function_accuracy_html(record, results, spec)
        pages[name] = (record.title, function_pages.function_page(record, spec, figures, section))
    for extra_page in extra:
        pages[extra_page.name] = (extra_page.title, extra_page.body)
    written = []
    for name, (title, body) in pages.items():
        path = out / f"{name}.html"
        path.write_text(common.page(title, body, list(spec.FUNCTIONS), extra_nav), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS / "_site", help="output folder (emptied first)")
    parser.add_argument("--results", type=Path, default=ROOT / "conformance-results",
                        help="folder of conformance JSON reports")
    parser.add_argument("--bench", type=Path, default=ROOT / "benchmarks" / "results",
                        help="folder of benchmark JSON results (nox -s bench)")
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        written = build(args.out.resolve(), args.results.resolve(), args.bench.resolve())
    print(f"wrote {len(written)} pages to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
