"""speed.html: each backend's benchmark JSON (``benchmarks/results/*.json``, written by
``nox -s bench`` through ``benchmarks/harness.py``) as a bar chart of the fwd+bwd ratios
(inline SVG) and ratio-to-native-GELU tables.

Read from each result: ``backend``, ``machine``, ``runs[].rows[]`` with ``name``, ``kind``
("native", "spec", "reference", or "end_to_end"/"model" for whole-model rows) and
``fwd_bwd_ratio`` (else ``fwd_ratio``); a row's tier is its ``precision`` (else the result's,
else none), its function its ``function`` (else its name's first word). End-to-end rows
(``end_to_end``: a training step of an encoder block per activation, described by
``end_to_end_model``) get their own table and chart panel; their native row is left out of
the chart (its ratio is 1 by definition).
"""

from __future__ import annotations

import math

from .common import esc, table

#: The target the fast tier is held to (issue 17): fwd+bwd ≤ 1.1× the native exact GELU.
TARGET = 1.1
END_TO_END = ("end_to_end", "model")
#: What an end-to-end row times (benchmarks/end_to_end.py).
END_TO_END_STEP = (
    "A training step is the model's forward in training mode, the loss (mean of squares), the backward "
    "and an AdamW update (then the activation layer's constraint projection, where it has one), with the "
    "activation in the row in place of the framework's native exact GELU and every other weight the "
    "same; fwd is the forward alone, without gradients. Each row is timed interleaved with the native "
    "model in the same run (every repeat times every model once, in a rotated order); the ratio is the "
    "median over repeats of the ratio within a repeat, the milliseconds the median time.")

NO_BENCHMARKS = (
    '<p class="note">No benchmark results in this build. Run <code>nox -s bench</code> first: it '
    "writes <code>benchmarks/results/BACKEND.json</code>, which this page renders.</p>"
)


def label(result: dict) -> str:
    """The backend, with the input dtype where it is not float32 ("torch bfloat16") and "x64"
    where JAX ran with jax_enable_x64 on ("jax x64")."""
    dtype = result.get("dtype", "float32")
    return str(result["backend"]) + ("" if dtype == "float32" else f" {dtype}") + (" x64" if result.get("x64") else "")


def end_to_end_name(row: dict) -> str:
    """An end-to-end row's activation, with its tier where it has one ("SGBlend() [fast]")."""
    return str(row["name"]) + (f" [{row['precision']}]" if row.get("precision") else "")


def ratio_cell(ratio, ms) -> str:
    if ratio is None:
        return '<span class="na">—</span>'
    if ms is None:
        return f"{ratio:.2f}×"
    return f'{ratio:.2f}× <span class="bound">({ms:.1f} ms)</span>'


def speed_page(results: list[dict]) -> str:
    """The benchmark JSON of every backend (benchmarks/harness.py writes them) as tables."""
    s = ["<h1>Measured speed</h1>",
         "<p>Time of each function as a ratio to the framework's own exact GELU, measured in the "
         "same process on float32 input (bfloat16 where a heading says so; median of repeated runs; milliseconds in brackets). "
         "fwd+bwd includes the gradients in every parameter. Saved: the bytes autograd keeps from "
         "forward to backward. Reference rows are not conformant: they price the float64 "
         "evaluation that the accuracy bounds need, and the naive float32 implementation of the authors' "
         "layer (SG-Blend written directly in the framework's ops with its autodiff) prices what a user "
         "would write without this library. The end-to-end rows time a training step of a transformer "
         "encoder block with each activation.</p>"]
    if not results:
        return "\n".join(s) + NO_BENCHMARKS
    chart = speed_figure(results)
    if chart:
        machines = sorted({str(r.get("machine", "?")) for r in results})
        s.append(f'<figure class="speed" id="speed-chart">{chart}<figcaption>fwd+bwd time as a ratio to the '
                 "framework's own exact GELU in the same run (forward only where a row has no backward), at "
                 "the largest size measured, per function, backend and precision tier; log scale, the dashed "
                 f"line at {TARGET}×. Machine: {esc('; '.join(machines))}.</figcaption></figure>")
    for result in results:
        s.append(f'<h2 id="speed-{esc(label(result).replace(" ", "-"))}">{esc(label(result))}</h2>'
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
        if result.get("end_to_end"):
            rows = [[esc(end_to_end_name(row)), esc(row.get("kind", "")), ratio_cell(row.get("fwd_ratio"), row.get("fwd_ms")),
                     ratio_cell(row.get("fwd_bwd_ratio"), row.get("fwd_bwd_ms"))] for row in result["end_to_end"]]
            model = result.get("end_to_end_model")
            s.append("<h3>End to end</h3>"
                     + (f"<p>{esc(model)}.</p>" if model else "") + f"<p>{END_TO_END_STEP}</p>"
                     + table(["Activation", "Kind", "fwd", "fwd+bwd (training step)"], rows, "speed"))
        notes = {row["name"]: row["note"] for run in result["runs"] for row in run["rows"] if row["note"]}
        notes.update({row["name"]: row["note"] for row in result.get("end_to_end", ()) if row.get("note")})
        s.append("<ul>" + "".join(f"<li>{esc(k)}: {esc(v)}</li>" for k, v in notes.items()) + "</ul>")
    return "\n".join(s)


def _ratio(row):
    ratio = row.get("fwd_bwd_ratio")
    return row.get("fwd_ratio") if ratio is None else ratio


def _function(row, functions) -> str | None:
    name = row.get("function") or str(row["name"]).split()[0]
    return name if name in functions else None


def chart_data(results: list[dict], functions) -> tuple[dict, dict]:
    """({series label: {function: ratio}}, {series label: {model row: ratio}}) from each
    result's largest run; a series is a backend with its tier."""
    bars: dict[str, dict[str, float]] = {}
    models: dict[str, dict[str, float]] = {}
    for result in results:
        if not result.get("runs"):
            continue
        run = max(result["runs"], key=lambda r: r["numel"])
        end_to_end = [row for r in result["runs"] for row in r["rows"] if row.get("kind") in END_TO_END]
        end_to_end += list(result.get("end_to_end", ()))
        for row in run["rows"] + end_to_end:
            tier = row.get("precision") or result.get("precision")
            name = label(result) + (f" ({tier})" if tier else "")
            ratio = _ratio(row)
            if ratio is None:
                continue
            if row.get("kind") in END_TO_END or row in end_to_end:
                if row.get("kind") != "native":  # the yardstick: 1 by definition
                    models.setdefault(name, {})[str(row["name"])] = float(ratio)
            elif row.get("kind") == "spec" and _function(row, functions):
                bars.setdefault(name, {})[_function(row, functions)] = float(ratio)
    return bars, models


def speed_figure(results: list[dict]) -> str | None:
    """Bars of the fwd+bwd ratio per function (and per end-to-end model row), one colour per
    backend and tier, with the 1.1× target; None when nothing has a ratio."""
    from sgblend_spec import spec

    from .error_plots import _pyplot, svg_inline

    bars, models = chart_data(results, spec.FUNCTIONS)
    if not bars and not models:
        return None
    matplotlib, plt = _pyplot()
    matplotlib.rcParams.update({"svg.hashsalt": "speed", "svg.fonttype": "none", "font.size": 9})
    panels = [(bars, [f for f in spec.FUNCTIONS if any(f in b for b in bars.values())], "per function")]
    if models:
        names = sorted({m for v in models.values() for m in v})
        panels.append((models, names, "end to end (a training step of a model)"))
    fig, axes = plt.subplots(len(panels), 1, figsize=(9.6, 3.6 * len(panels)), squeeze=False)
    colours = plt.get_cmap("tab10").colors
    labels = sorted(set(bars) | set(models))
    for ax, (data, categories, title) in zip(axes[:, 0], panels):
        width = 0.84 / max(1, len(labels))
        values = [v for series in data.values() for v in series.values()]
        for i, label in enumerate(labels):
            points = [(j, data.get(label, {}).get(c)) for j, c in enumerate(categories)]
            points = [(j, v) for j, v in points if v is not None]
            if points:
                ax.bar([j - 0.42 + (i + 0.5) * width for j, _ in points], [v for _, v in points],
                       width=width * 0.95, color=colours[i % len(colours)], label=label, zorder=3)
        ax.set_yscale("log")
        low, high = min(values + [TARGET]), max(values + [TARGET])
        ax.set_ylim(10 ** math.floor(math.log10(low * 0.8)), 10 ** math.ceil(math.log10(high * 1.25)))
        ax.axhline(1.0, color="0.4", lw=0.8, zorder=4)
        ax.axhline(TARGET, color="#d62728", lw=1.2, ls="--", zorder=4)
        ax.annotate(f"{TARGET}×", (1.0, TARGET), xycoords=("axes fraction", "data"), xytext=(-4, 3),
                    textcoords="offset points", ha="right", color="#d62728", fontsize=8)
        ax.set_xticks(range(len(categories)), categories, rotation=15 if len(categories) > 4 else 0, ha="right")
        ax.set_ylabel("× native exact GELU")
        ax.set_title(f"fwd+bwd ratio, {title}", fontsize=9)
        ax.grid(axis="y", which="both", alpha=0.25)
        for j in range(1, len(categories)):
            ax.axvline(j - 0.5, color="0.88", lw=0.6)
    handles = {}  # every series, also one drawn only in the end-to-end panel (an exact-tier model row)
    for ax in axes[:, 0]:
        for handle, name in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(name, handle)
    axes[0, 0].legend(list(handles.values()), list(handles), fontsize=8, ncol=min(4, len(labels)), loc="upper left",
                      frameon=False)
    fig.tight_layout()
    return svg_inline(fig, "speed-chart")
