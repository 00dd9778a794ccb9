"""speed.html: each backend's benchmark JSON (``benchmarks/results/*.json``, written by
``nox -s bench`` through ``benchmarks/harness.py``) as ratio-to-native-GELU tables."""

from __future__ import annotations

from .common import esc, table

NO_BENCHMARKS = (
    '<p class="note">No benchmark results in this build. Run <code>nox -s bench</code> first: it '
    "writes <code>benchmarks/results/BACKEND.json</code>, which this page renders.</p>"
)


def ratio_cell(ratio, ms) -> str:
    if ratio is None:
        return '<span class="na">—</span>'
    return f'{ratio:.2f}× <span class="bound">({ms:.1f} ms)</span>'


def speed_page(results: list[dict]) -> str:
    """The benchmark JSON of every backend (benchmarks/harness.py writes them) as tables."""
    s = ["<h1>Measured speed</h1>",
         "<p>Time of each function as a ratio to the framework's own exact GELU, measured in the "
         "same process on float32 input (median of repeated runs; milliseconds in brackets). "
         "fwd+bwd includes the gradients in every parameter. Saved: the bytes autograd keeps from "
         "forward to backward. Reference rows are not conformant: they price the float64 "
         "evaluation that the accuracy bounds need.</p>"]
    if not results:
        return "\n".join(s) + NO_BENCHMARKS
    for result in results:
        s.append(f'<h2 id="speed-{esc(result["backend"])}">{esc(result["backend"])}</h2>'
                 f"<p>{esc(result['framework'])}; {esc(result['mode'])}; {esc(result['machine'])}, "
                 f"{esc(result['threads'])} threads; ratios to <code>{esc(result['baseline'])}</code>.</p>")
        for run in result["runs"]:
            rows = []
            for row in run["rows"]:
                name = (f'<a href="{esc(row["name"])}.html"><code>{esc(row["name"])}</code></a>'
                        if row["kind"] == "spec" else esc(row["name"]))
                saved = "—" if row["saved_bytes"] is None else f"{row['saved_bytes'] / 2**20:.1f} MiB"
                rows.append([name, esc(row["kind"]), ratio_cell(row["fwd_ratio"], row["fwd_ms"]),
                             ratio_cell(row["fwd_bwd_ratio"], row["fwd_bwd_ms"]), esc(saved)])
            s.append(f"<h3>{run['numel']:,} elements</h3>"
                     + table(["Function", "Kind", "fwd", "fwd+bwd", "Saved"], rows, "speed"))
        notes = {row["name"]: row["note"] for run in result["runs"] for row in run["rows"] if row["note"]}
        s.append("<ul>" + "".join(f"<li>{esc(k)}: {esc(v)}</li>" for k, v in notes.items()) + "</ul>")
    return "\n".join(s)
