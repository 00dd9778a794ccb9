"""The accuracy figures, drawn at build time from the conformance JSON (inline SVG):

* on each function page, the error in ULPs against x over the whole float32 range, for the
  value and ∂f/∂x: every backend and tier found in ``conformance-results/*.json`` (their
  ``samples``, conformance/samples.py), the framework's native op where one exists
  (``*-native.json``, ``nox -s native``) and a naive float32 port (``naive.py``), with the bound;
* on the accuracy page, one summary: per function, the max float32 error of each of them.
"""

from __future__ import annotations

import io
import math
import re

import numpy as np

from .common import esc

DTYPE = "float32"
QUANTITIES = ("value", "x")
#: Errors below this (exact results included) are drawn on it; a NaN or ±∞ result on TOP.
FLOOR, TOP = 0.1, 1e11
F32_TINY, F32_MAX, F32_SUBNORMAL = 2.0 ** -126, float(np.finfo(np.float32).max), 2.0 ** -149
NAIVE_LABEL = "naive float32 port"


# ----------------------------------------------------------------------------- the data
class Series:
    """One thing measured: a backend in a tier, a native op, or the naive port."""

    def __init__(self, label: str, kind: str, report: dict | None = None):
        self.label, self.kind, self.report = label, kind, report

    def samples(self, function: str, quantity: str):
        """(x, error) of the float32 sample of ``function``'s ``quantity``, or None."""
        for s in (self.report or {}).get("samples", ()):
            if (s["function"], s["dtype"], s["quantity"]) == (function, DTYPE, quantity):
                errors = np.array([math.inf if e == "inf" else float(e) for e in s["ulp"]])
                return np.array(s["x"], dtype=np.float64), errors
        return None

    def max_error(self, function: str, quantity: str):
        """The accuracy table's float32 max error (None where not measured)."""
        for e in (self.report or {}).get("entries", ()):
            if (e["function"], e["dtype"], e["quantity"]) == (function, DTYPE, quantity):
                if not e.get("supported", True) or e["max_ulp"] is None:
                    return None
                return math.inf if e["max_ulp"] == "inf" else float(e["max_ulp"])
        return None

    def bound(self, function: str, quantity: str):
        for e in (self.report or {}).get("entries", ()):
            if (e["function"], e["dtype"], e["quantity"]) == (function, DTYPE, quantity):
                return e["bound"]
        return None


def is_native(backend: str, report: dict) -> bool:
    return backend.endswith("-native") or str(report.get("implementation", "")).endswith("-native")


def series_of(results) -> list[Series]:
    """Backends (with their tier) first, then the native ops."""
    ours, native = [], []
    for backend, report in results:
        if is_native(backend, report):
            native.append(Series(f"{backend.removesuffix('-native')} native op", "native", report))
        else:
            tier = report.get("precision", "exact")
            label = backend if backend.endswith(f"-{tier}") else f"{backend} ({tier})"
            ours.append(Series(label, tier, report))
    return ours + native


class Naive(Series):
    """The naive float32 port, computed at build time (naive.py), cached per function."""

    def __init__(self):
        super().__init__(NAIVE_LABEL, "naive")
        self._errors: dict[str, dict] = {}

    def _of(self, function):
        if function not in self._errors:
            from .naive import naive_errors

            self._errors[function] = naive_errors(function)
        return self._errors[function]

    def samples(self, function, quantity):
        return self._of(function)[quantity]

    def max_error(self, function, quantity):
        return float(np.max(self._of(function)[quantity][1]))


# ----------------------------------------------------------------------------- drawing
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return matplotlib, plt


_STYLE = {  # kind -> marker, size, colours (cycled per series of that kind)
    "exact": ("o", 3.0, ["#1f77b4", "#17becf", "#2ca02c", "#9467bd", "#8c564b", "#bcbd22"]),
    "fast": ("D", 2.6, ["#2ca02c", "#98df8a", "#7f7f7f", "#aec7e8", "#c5b0d5", "#dbdb8d"]),
    "native": ("^", 3.6, ["#ff7f0e", "#d62728", "#e377c2", "#ffbb78"]),
    "naive": ("s", 2.6, ["#555555"]),
}


def _styles(series: list[Series]) -> dict[str, tuple[str, float, str]]:
    counters: dict[str, int] = {}
    out = {}
    for s in series:
        marker, size, colours = _STYLE.get(s.kind, _STYLE["exact"])
        n = counters.get(s.kind, 0)
        counters[s.kind] = n + 1
        out[s.label] = (marker, size, colours[n % len(colours)])
    return out


def _clip(errors: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(errors), np.clip(errors, FLOOR, TOP / 10), TOP)


def _y_axis(ax, top_label: bool = True) -> None:
    ax.set_yscale("log")
    ax.set_ylim(FLOOR / 1.6, TOP * 3)
    ticks = [FLOOR] + [10.0 ** k for k in range(0, 11, 2)] + [TOP]
    labels = ["≤0.1"] + [f"$10^{{{k}}}$" if k else "1" for k in range(0, 11, 2)] + (["NaN/∞"] if top_label else [""])
    ax.set_yticks(ticks, labels)
    ax.minorticks_off()
    ax.axhline(TOP, color="0.6", lw=0.6, ls=":")


#: The x axis: log10 |x| from the smallest subnormal to the overflow edge, both signs, zero in
#: the middle (|x| below the smallest subnormal linear), with the decades from WIDE_LO to
#: WIDE_HI, where every function changes shape, WIDEN times wider than the others.
WIDE_LO, WIDE_HI, WIDEN = 0.1, 100.0, 10.0


def _u(a):
    return np.where(a < F32_SUBNORMAL, a / F32_SUBNORMAL,
                    np.log10(np.maximum(a, F32_SUBNORMAL) / F32_SUBNORMAL) + 1.0)


_U1, _U2 = float(_u(np.array(WIDE_LO))), float(_u(np.array(WIDE_HI)))


def x_forward(x):
    """Data x -> axis position (see WIDEN)."""
    x = np.asarray(x, dtype=np.float64)
    u = _u(np.abs(x))
    return np.sign(x) * (u + (WIDEN - 1.0) * np.clip(u - _U1, 0.0, _U2 - _U1))


def x_inverse(v):
    v = np.asarray(v, dtype=np.float64)
    w = np.abs(v)
    top = _U1 + WIDEN * (_U2 - _U1)
    u = np.where(w <= _U1, w, np.where(w <= top, _U1 + (w - _U1) / WIDEN, w - (WIDEN - 1.0) * (_U2 - _U1)))
    with np.errstate(over="ignore"):
        a = np.where(u < 1.0, u * F32_SUBNORMAL, F32_SUBNORMAL * 10.0 ** (np.minimum(u, 400.0) - 1.0))
    return np.sign(v) * a


def _x_axis(ax) -> None:
    ax.set_xscale("function", functions=(x_forward, x_inverse))
    ax.set_xlim(-F32_MAX, F32_MAX)
    decades = [-40, -30, -20, -10, -1, 0, 1, 2, 20, 30]
    ticks = [10.0 ** k for k in decades] + [F32_MAX]
    plain = {-1: "0.1", 0: "1", 1: "10", 2: "100"}
    labels = [plain.get(k, f"$10^{{{k}}}$") for k in decades] + ["max"]
    ax.set_xticks([-t for t in reversed(ticks)] + [0.0] + ticks,
                  ["$-$" + t if t.startswith("$") else "−" + t for t in reversed(labels)] + ["0"] + labels,
                  fontsize=7.5)
    ax.minorticks_off()
    for sign in (-1, 1):  # the subnormals, and the widened decades
        ax.axvspan(sign * F32_SUBNORMAL, sign * F32_TINY, color="0.92", zorder=0, lw=0)
        ax.axvspan(sign * WIDE_LO, sign * WIDE_HI, color="#fff3d6", zorder=0, lw=0)


def svg_inline(fig, name: str) -> str:
    """The figure as an inline ``<svg>`` element (no XML prologue; ids unique to ``name``)."""
    _, plt = _pyplot()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    # matplotlib's ids are hashes of the content; prefix them so that two figures on one
    # page never share an id.
    prefix = re.sub(r"[^A-Za-z0-9]", "-", name) + "-"
    ids = set(re.findall(r'\bid="([^"]+)"', text))
    for old in sorted(ids, key=len, reverse=True):
        text = text.replace(f'id="{old}"', f'id="{prefix}{old}"').replace(f"#{old})", f"#{prefix}{old})") \
                   .replace(f'href="#{old}"', f'href="#{prefix}{old}"')
    text = re.sub(r"<svg ", f'<svg class="figure" role="img" aria-label="{esc(name)}" ', text, count=1)
    return text.strip()


def _rc(matplotlib, salt: str) -> None:
    matplotlib.rcParams.update({"svg.hashsalt": salt, "svg.fonttype": "none", "font.size": 9})


def _bound_line(ax, series: list[Series], function: str, quantity: str) -> None:
    from sgblend_spec import spec

    bounds = {("exact", spec.ulp_bound(quantity, DTYPE))}
    for s in series:
        b = s.bound(function, quantity) if s.kind in ("exact", "fast") else None
        if b is not None:
            bounds.add((s.kind, b))
    for tier, b in sorted(bounds, key=lambda t: t[1]):
        ax.axhline(b, color="#d62728", lw=1.1, ls="--" if tier == "exact" else "-.", zorder=1)
        ax.annotate(f"bound {b} ULP ({tier})", (1.0, b), xycoords=("axes fraction", "data"),
                    xytext=(-4, 3), textcoords="offset points", ha="right", fontsize=8, color="#d62728")


def _legend(fig, ax, ncol: int, **kwargs) -> None:
    """One legend above the panels, the panels laid out below it."""
    handles, labels = ax.get_legend_handles_labels()
    rows = math.ceil(len(labels) / ncol)
    fig.legend(handles, labels, loc="upper center", ncol=min(ncol, len(labels)), fontsize=8, frameon=False, **kwargs)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.035 * rows - 0.01))


def error_figure(record, series: list[Series]) -> str | None:
    """The function page's figure: error in ULPs against x, value above ∂f/∂x; None when no
    series has float32 samples for this function."""
    from .plots import mpl_label

    drawn = [s for s in series if all(s.samples(record.name, q) is not None for q in QUANTITIES)]
    if not any(s.kind != "naive" for s in drawn):
        return None
    matplotlib, plt = _pyplot()
    _rc(matplotlib, f"errors-{record.name}")
    styles = _styles(drawn)
    fig, axes = plt.subplots(2, 1, figsize=(9.6, 6.6), sharex=True)
    for ax, quantity in zip(axes, QUANTITIES):
        for order, s in enumerate(drawn):
            x, errors = s.samples(record.name, quantity)
            marker, size, colour = styles[s.label]
            ax.plot(x, _clip(errors), ls="", marker=marker, ms=size, color=colour, alpha=0.75,
                    mec="none", label=s.label, zorder=3 + len(drawn) - order)
        _bound_line(ax, drawn, record.name, quantity)
        _x_axis(ax)
        _y_axis(ax)
        ax.set_ylabel(f"error in ULPs of {mpl_label(record, quantity)}")
        ax.grid(alpha=0.25)
    axes[-1].set_xlabel("$x$ (float32, log scale both ways from 0; subnormals grey; "
                        "$0.1 \\leq |x| \\leq 100$ shaded and widened tenfold)")
    _legend(fig, axes[0], ncol=4, markerscale=2)
    return svg_inline(fig, f"errors-{record.name}")


def summary_figure(series: list[Series], functions) -> str:
    """The accuracy page's figure: per function, the float32 max error of each series, bars on
    a log scale, value above ∂f/∂x."""
    matplotlib, plt = _pyplot()
    _rc(matplotlib, "accuracy-summary")
    styles = _styles(series)
    names = list(functions)
    fig, axes = plt.subplots(2, 1, figsize=(9.6, 6.4), sharex=True)
    width = 0.84 / max(1, len(series))
    for ax, quantity in zip(axes, QUANTITIES):
        for i, s in enumerate(series):
            heights, positions = [], []
            for j, name in enumerate(names):
                e = s.max_error(name, quantity)
                if e is None:
                    continue
                heights.append(TOP if not math.isfinite(e) else max(e, FLOOR))
                positions.append(j - 0.42 + (i + 0.5) * width)
            if positions:
                ax.bar(positions, np.array(heights) - FLOOR / 1.6, width=width * 0.95, bottom=FLOOR / 1.6,
                       color=styles[s.label][2], label=s.label, zorder=3)
        from sgblend_spec import spec

        ax.axhline(spec.ulp_bound(quantity, DTYPE), color="#d62728", lw=1.1, ls="--", zorder=4)
        _y_axis(ax)
        ax.set_ylabel(f"max error (ULPs), {'value' if quantity == 'value' else '∂f/∂x'}")
        ax.grid(axis="y", alpha=0.25)
        for j in range(1, len(names)):
            ax.axvline(j - 0.5, color="0.85", lw=0.6)
    axes[-1].set_xticks(range(len(names)), names, rotation=20, ha="right")
    _legend(fig, axes[0], ncol=5)
    return svg_inline(fig, "accuracy-summary")
