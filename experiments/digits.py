"""A small, offline activation experiment: an MLP on scikit-learn's digits (8×8 images, 10
classes, shipped inside scikit-learn) trained with GELU, SiLU, SSwish, SG-Blend and λ-GELU
(plain, and with the library's hardening schedule), plus λ-GELU under SGD with and without
the λ-aware update.

    python experiments/digits.py [--epochs 40] [--seeds 0 1 2] [--out experiments/results]

(``nox -s experiment`` installs what it needs and runs it.) Writes ``digits.json`` (every
run), ``digits.md`` (the table, mean ± sd over seeds) and ``digits.png`` (the plots).

Setup: 64 → 128 → 128 → 10 MLP, one activation module per hidden layer (scalar parameters
per module), inputs standardised on the training split (1347 train / 450 test, stratified,
fixed), Adam (lr 3e-3, batch 64), ``register_constraints`` for SSwish/SG-Blend, seeds fixing
the initialisation and the batch order. λ-GELU runs use ``register_lambda_update`` (the
λ-aware update) and ``lambda_parameter_groups`` (no weight decay on ρ); the hardened run adds
``HardeningSchedule`` with λ* = ``target_lam(0.01)`` = 17.0, ramping over 30 %–80 % of the
steps and holding for the last 20 %.

Measured, per run: test accuracy after the last epoch; the dead-unit fraction (a hidden unit
is dead when |f'(x)| < 0.01 for every test example, i.e. it passes under 1 % of its gradient
whatever the input; under ReLU that is "negative on every example"); the median wall time of
a training epoch; the learned activation parameters; and the test accuracy after replacing
every activation module by ReLU (``replace_lambda_gelu_with_relu`` for λ-GELU,
``swap_activations`` otherwise), whose difference is the ReLU-substitution drop.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sgblend_spec import hardening
from sgblend_spec.backends import torch as backend

ROOT = Path(__file__).resolve().parent
TOLERANCE = 0.01  # per-unit ReLU-substitution tolerance of the hardened run
DEAD_SLOPE = 0.01  # a unit is dead when |f'| stays below this on every test example
HIDDEN = 128
BATCH = 64
SITES = (1, 3)  # the activation modules of make_model's Sequential


def _sswish():
    return backend.SSwish()


def _sgblend():
    return backend.SGBlend()


#: name -> (label, activation factory, optimizer, λ-GELU recipe options)
CONFIGS = {
    "gelu": ("GELU (torch)", nn.GELU, "adam", {}),
    "silu": ("SiLU (torch)", nn.SiLU, "adam", {}),
    "sswish": ("SSwish", _sswish, "adam", {}),
    "sgblend": ("SG-Blend", _sgblend, "adam", {}),
    "lambda_gelu": ("λ-GELU", backend.LambdaGELU, "adam", {"update": True}),
    "lambda_gelu_hardened": ("λ-GELU + hardening", backend.LambdaGELU, "adam", {"update": True, "harden": True}),
    "lambda_gelu_sgd": ("λ-GELU, SGD", backend.LambdaGELU, "sgd", {}),
    "lambda_gelu_sgd_update": ("λ-GELU, SGD + λ-aware update", backend.LambdaGELU, "sgd", {"update": True}),
}


# ----------------------------------------------------------------------------- data and model
def load_data():
    """Standardised digits: (x_train, y_train, x_test, y_test) as float32/int64 tensors."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=450, stratify=y, random_state=0)
    mean, std = x_train.mean(0), x_train.std(0)
    std[std == 0] = 1.0  # pixels that are always 0 in the training split stay 0-centred, unscaled
    as_x = lambda a: torch.tensor((a - mean) / std, dtype=torch.float32)  # noqa: E731
    as_y = lambda a: torch.tensor(a, dtype=torch.int64)  # noqa: E731
    return as_x(x_train), as_y(y_train), as_x(x_test), as_y(y_test)


def make_model(factory) -> nn.Sequential:
    return nn.Sequential(nn.Linear(64, HIDDEN), factory(), nn.Linear(HIDDEN, HIDDEN), factory(),
                         nn.Linear(HIDDEN, 10))


# ----------------------------------------------------------------------------- measurements
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def test_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean cross-entropy on (x, y), in eval mode."""
    model.eval()
    with torch.no_grad():
        return float(nn.functional.cross_entropy(model(x), y))


def dead_fraction(model: nn.Sequential, x: torch.Tensor) -> float:
    """Fraction of hidden units with |f'(pre-activation)| < DEAD_SLOPE on every example of x."""
    model.eval()
    dead, total, h = 0, 0, x
    with torch.no_grad():
        for i, module in enumerate(model):
            if i in SITES:
                pre = h.detach().clone().requires_grad_(True)
                with torch.enable_grad():
                    (slope,) = torch.autograd.grad(module(pre).sum(), pre)  # elementwise: f'(pre)
                dead += int((slope.abs() < DEAD_SLOPE).all(0).sum())
                total += slope.shape[1]
            h = module(h)
    return dead / total


def learned_parameters(model: nn.Sequential) -> dict[str, dict[str, float]]:
    out = {}
    for i in SITES:
        m = model[i]
        if isinstance(m, backend.LambdaGELU):
            out[str(i)] = {"lam": m.lam.item()}
        elif isinstance(m, backend.SGBlend):
            out[str(i)] = {"a": torch.sigmoid(m.alpha).item(), "beta": m.beta.item(), "gamma": m.gamma.item()}
        elif isinstance(m, backend.SSwish):
            out[str(i)] = {"beta": m.beta.item(), "gamma": m.gamma.item()}
    return out


def relu_substitution(model: nn.Sequential, x_test, y_test) -> dict:
    """Test accuracy with every activation module replaced by ReLU (the model is copied)."""
    if any(isinstance(m, backend.LambdaGELU) for m in model):
        relu_model, report = backend.replace_lambda_gelu_with_relu(model, x_test)
        extra = {"max_abs_logit_change": report.max_abs_change, "unit_bound": report.unit_bound}
    else:
        kinds = tuple({type(model[i]) for i in SITES})
        relu_model, _ = backend.swap_activations(copy.deepcopy(model), kinds, nn.ReLU)
        with torch.no_grad():
            extra = {"max_abs_logit_change": float((relu_model.eval()(x_test) - model.eval()(x_test)).abs().max()),
                     "unit_bound": None}
    return {"accuracy": accuracy(relu_model, x_test, y_test), "loss": test_loss(relu_model, x_test, y_test),
            "dead_fraction": dead_fraction(relu_model, x_test), **extra}


# ----------------------------------------------------------------------------- one run
def run(name: str, seed: int, epochs: int, data) -> dict:
    label, factory, optimizer_name, recipe = CONFIGS[name]
    x_train, y_train, x_test, y_test = data
    torch.manual_seed(seed)
    model = make_model(factory)
    if optimizer_name == "adam":
        optimizer = torch.optim.Adam(backend.lambda_parameter_groups(model), lr=3e-3)
    else:
        optimizer = torch.optim.SGD(backend.lambda_parameter_groups(model), lr=0.05, momentum=0.9)
    backend.register_constraints(optimizer, model)
    if recipe.get("update"):
        backend.register_lambda_update(optimizer, model)
    steps_per_epoch = math.ceil(len(x_train) / BATCH)
    total = epochs * steps_per_epoch
    lam_target = hardening.target_lam(TOLERANCE)
    schedule = None
    if recipe.get("harden"):
        schedule = backend.HardeningSchedule(model, lam_target, ramp_steps=max(1, round(0.5 * total)),
                                             start_step=round(0.3 * total))
    order = torch.Generator().manual_seed(1000 + seed)
    epoch_times, history = [], []
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        model.train()
        start = time.perf_counter()
        for batch in torch.randperm(len(x_train), generator=order).split(BATCH):
            optimizer.zero_grad()
            loss = loss_fn(model(x_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
            if schedule is not None:
                schedule.step()
        epoch_times.append(time.perf_counter() - start)
        history.append({
            "epoch": epoch + 1,
            "loss": float(loss.detach()),
            "lam": [model[i].lam.item() for i in SITES if isinstance(model[i], backend.LambdaGELU)],
            "lam_floor": schedule.lam_floor if schedule is not None else None,
        })
    return {
        "config": name, "label": label, "optimizer": optimizer_name, "seed": seed, "epochs": epochs,
        "test_accuracy": accuracy(model, x_test, y_test),
        "test_loss": test_loss(model, x_test, y_test),
        "dead_fraction": dead_fraction(model, x_test),
        # the median is robust to a few epochs slowed by other processes on a shared machine
        "epoch_seconds": statistics.median(epoch_times),
        "parameters": learned_parameters(model),
        "relu": relu_substitution(model, x_test, y_test),
        "lam_target": lam_target if schedule is not None else None,
        "history": history,
    }


# ----------------------------------------------------------------------------- reporting
def _mean_sd(values, scale=1.0, digits=2) -> str:
    values = [v * scale for v in values]
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _parameters_text(runs) -> str:
    keys = runs[0]["parameters"]
    parts = []
    for site, names in keys.items():
        values = ", ".join(
            f"{n} {statistics.mean(r['parameters'][site][n] for r in runs):.3g}" for n in names)
        parts.append(f"layer {site}: {values}")
    return "; ".join(parts) or "—"


def table(results: list[dict]) -> str:
    rows = ["| activation | optimizer | test accuracy % | test loss | dead units % | s / epoch (median) "
            "| learned parameters (mean) | accuracy after ReLU swap % | drop (points) | test loss change "
            "| max logit change | dead units after swap % |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in CONFIGS:
        runs = [r for r in results if r["config"] == name]
        if not runs:
            continue
        drops = [r["test_accuracy"] - r["relu"]["accuracy"] for r in runs]
        rows.append("| " + " | ".join([
            runs[0]["label"], runs[0]["optimizer"],
            _mean_sd([r["test_accuracy"] for r in runs], 100),
            _mean_sd([r["test_loss"] for r in runs], 1, 3),
            _mean_sd([r["dead_fraction"] for r in runs], 100, 1),
            _mean_sd([r["epoch_seconds"] for r in runs], 1, 3),
            _parameters_text(runs),
            _mean_sd([r["relu"]["accuracy"] for r in runs], 100),
            _mean_sd(drops, 100),
            _mean_sd([r["relu"]["loss"] - r["test_loss"] for r in runs], 1, 4),
            _mean_sd([r["relu"]["max_abs_logit_change"] for r in runs], 1, 3),
            _mean_sd([r["relu"]["dead_fraction"] for r in runs], 100, 1),
        ]) + " |")
    return "\n".join(rows)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    fig, axes = plt.subplots(1, 4, figsize=(19, 4.4))
    names = [n for n in CONFIGS if any(r["config"] == n for r in results)]
    labels = [CONFIGS[n][0] for n in names]
    pos = np.arange(len(names))

    def per_config(key):
        return [[key(r) for r in results if r["config"] == n] for n in names]

    acc, relu = per_config(lambda r: 100 * r["test_accuracy"]), per_config(lambda r: 100 * r["relu"]["accuracy"])
    axes[0].bar(pos - 0.2, [np.mean(a) for a in acc], 0.4, yerr=[np.std(a) for a in acc], label="as trained")
    axes[0].bar(pos + 0.2, [np.mean(a) for a in relu], 0.4, yerr=[np.std(a) for a in relu], label="activations → ReLU")
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].set_ylim(min(min(map(min, relu)), min(map(min, acc))) - 3, 100)
    axes[0].legend(fontsize=8, loc="lower left")
    axes[0].set_title("test accuracy, and after ReLU substitution")
    change = per_config(lambda r: r["relu"]["max_abs_logit_change"])
    axes[1].bar(pos, [np.mean(c) for c in change], 0.6, yerr=[np.std(c) for c in change], color="C2")
    axes[1].set_yscale("log")
    axes[1].set_ylabel("max |logit change| on the test set")
    axes[1].set_title("output change from ReLU substitution")
    for ax in axes[:2]:
        ax.set_xticks(pos, labels, rotation=35, ha="right", fontsize=8)
    first_seed = results[0]["seed"]
    for ax, configs, title in ((axes[2], ("lambda_gelu", "lambda_gelu_hardened"), "λ under Adam"),
                               (axes[3], ("lambda_gelu_sgd", "lambda_gelu_sgd_update"), "λ under SGD (momentum 0.9)")):
        for name in configs:
            for r in (r for r in results if r["config"] == name):
                epochs = [h["epoch"] for h in r["history"]]
                ax.plot(epochs, [np.mean(h["lam"]) for h in r["history"]], color=f"C{list(CONFIGS).index(name)}",
                        alpha=0.8, label=CONFIGS[name][0] if r["seed"] == first_seed else None)
                if r["history"][0]["lam_floor"] is not None and r["seed"] == first_seed:
                    ax.plot(epochs, [h["lam_floor"] for h in r["history"]], "k--", lw=1, label="floor λ_min")
        ax.set_xlabel("epoch")
        ax.set_ylabel("λ (mean over the two layers)")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG (no matplotlib needed)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (1: these small matrices gain nothing from more, and one "
                        "thread keeps the timings steady on a shared machine)")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be an integer >= 1, got {args.epochs}")
    if args.threads < 1:
        parser.error(f"--threads must be an integer >= 1, got {args.threads}")
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _experiment(args)
    finally:
        torch.set_num_threads(previous_threads)


def _experiment(args) -> int:
    data = load_data()
    results = []
    for name in args.configs:
        for seed in args.seeds:
            r = run(name, seed, args.epochs, data)
            print(f"{name:24s} seed {seed}: test {100 * r['test_accuracy']:.2f} %, "
                  f"ReLU {100 * r['relu']['accuracy']:.2f} %, {r['epoch_seconds']:.3f} s/epoch, {r['parameters']}",
                  flush=True)
            results.append(r)
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.machine(),
            "python": platform.python_version(), "epochs": args.epochs, "seeds": args.seeds,
            "tolerance": TOLERANCE, "lam_target": hardening.target_lam(TOLERANCE), "dead_slope": DEAD_SLOPE}
    (args.out / "digits.json").write_text(json.dumps({"meta": meta, "runs": results}, indent=1))
    text = (f"# λ-GELU recipe on scikit-learn digits\n\n{args.epochs} epochs, seeds {args.seeds}, "
            f"torch {torch.__version__} on {meta['threads']} thread(s); mean ± sd over seeds. Dead unit: "
            f"|f'(x)| < {DEAD_SLOPE} on every test example. s / epoch: median wall time of a training epoch. "
            f"ReLU swap: every activation module replaced by ReLU after training; drop = accuracy before − after; "
            f"hardening target λ* = target_lam({TOLERANCE}) = {meta['lam_target']:.4f}.\n\n{table(results)}\n")
    (args.out / "digits.md").write_text(text)
    print(text)
    if not args.no_plot:
        plot(results, args.out / "digits.png")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
