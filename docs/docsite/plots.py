"""The figures of a function page: value and derivatives on [−5, 5] from the NumPy reference,
one SVG per parameter (curves for a few of its values, the others at their defaults)."""

from __future__ import annotations

import math
from pathlib import Path


def mpl_label(record, quantity: str) -> str:
    """A quantity's label in matplotlib mathtext (rendered into the SVG, not the HTML)."""
    if quantity == "value":
        return r"$f(x)$"
    if quantity == "x":
        return r"$\partial f/\partial x$"
    if quantity == "dxx":
        return r"$\partial^2 f/\partial x^2$"
    return r"$\partial f/\partial " + record.parameter(quantity).symbol + "$"


def plot_values(parameter) -> list[float]:
    """A few values of one parameter to draw, from its record: the default, values around it
    (scaled for a positive parameter, shifted otherwise) and the closed finite ends of the
    interval a layer keeps it in (else of its domain)."""
    interval = parameter.constraint or parameter.domain
    default = parameter.default
    if interval.lo >= 0 and default > 0:
        candidates = [default * s for s in (0.5, 1, 2, 4)]
    else:
        candidates = [default + s for s in (-1, -0.5, 0, 0.5, 1)]
    for end, closed in ((interval.lo, interval.lo_closed), (interval.hi, interval.hi_closed)):
        if closed and math.isfinite(end):
            candidates.append(end)
    return sorted({round(v, 6) for v in candidates if v in interval})


def draw_plots(record, reference, img_dir: Path) -> list[tuple[str, str, str]]:
    """One SVG per parameter (curves for several of its values, the others at their
    defaults), or one for a parameter-free function. Returns (file, alt, caption)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    matplotlib.rcParams.update({"svg.hashsalt": "sgblend-spec", "font.size": 9})
    x = np.linspace(-5.0, 5.0, 801)
    value_fn = getattr(reference, record.name)
    grad_fn = getattr(reference, record.name + "_grad")
    dxx_fn = getattr(reference, record.name + "_dxx")

    def curves(params):
        grads = grad_fn(x, **params)
        return {"value": value_fn(x, **params), **grads, "dxx": dxx_fn(x, **params)}

    sweeps = [(p, plot_values(p)) for p in record.params] or [(None, [None])]
    out = []
    quantities = record.quantities
    ncols = 3
    nrows = math.ceil(len(quantities) / ncols)
    for parameter, values in sweeps:
        fig, axes = plt.subplots(nrows, ncols, figsize=(9.6, 2.9 * nrows), squeeze=False)
        for v in values:
            params = dict(record.defaults)
            label = None
            if parameter is not None:
                params[parameter.name] = v
                label = f"${parameter.symbol} = {v:.3g}$"
            data = curves(params)
            for ax, q in zip(axes.flat, quantities):
                ax.plot(x, np.asarray(data[q], dtype=np.float64), lw=1.4, label=label)
        for ax, q in zip(axes.flat, quantities):
            ax.set_title(mpl_label(record, q))
            ax.axhline(0, color="0.75", lw=0.6, zorder=0)
            ax.axvline(0, color="0.75", lw=0.6, zorder=0)
            ax.set_xlabel("$x$")
            ax.grid(alpha=0.25)
        for ax in list(axes.flat)[len(quantities):]:
            ax.set_visible(False)
        if parameter is not None:
            axes.flat[0].legend(fontsize=8, loc="upper left")
        fig.tight_layout()
        suffix = parameter.name if parameter is not None else "plot"
        file = f"{record.name}-{suffix}.svg"
        fig.savefig(img_dir / file, format="svg", metadata={"Date": None})
        plt.close(fig)
        if parameter is None:
            caption = "Value and derivatives on [−5, 5]."
        else:
            others = [p for p in record.params if p is not parameter]
            fixed = ", ".join(f"{p.name} = {p.default:g}" for p in others)
            caption = (
                f"Varying {parameter.name} over {', '.join(f'{v:.3g}' for v in values)}"
                + (f" ({fixed} at their defaults)" if fixed else "")
                + "; value and every derivative on [−5, 5], from the NumPy reference in float64."
            )
        out.append((file, f"{record.name}: value and derivatives, varying {suffix}", caption))
    return out
