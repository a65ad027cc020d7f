"""Shared pieces of the realistic-task figures (modular-arithmetic MLP, MNIST, one-layer transformer,
student-teacher; modules ``experiments/tasks_*.py``): configurations as data, the delay rule, the curve panels and
the run -> dataset -> judge -> plot protocol (:func:`task_protocol`).

Every figure runs its task(s) through ``grokjax.tasks.<task>.run`` at one of three sizes and merges them into one
dataset; each module holds a table ``CONFIGS[figure][size] = {run key: task Config keyword arguments}`` (the run
key names the task through :data:`TASK_OF`) and the note on what the ``small`` size changes:

* ``tiny``: seconds, for tests (not meant to show the claim);
* ``small``: minutes on 2 CPU cores; reduced models/steps where the paper's setting is out of reach on a CPU
  (each reduction is listed in the figure's dataset attribute ``size_note``);
* ``paper``: the paper's setting (the preset named in the description).

Grokking metric used by all alpha sweeps: with ``t_train`` / ``t_test`` the first logged steps at which the train /
test curve reaches its threshold (:func:`grokjax.first_crossing`), the *delay ratio* is ``t_test / t_train`` (test
never reached: the lower bound ``steps / t_train``). "No grokking" means ratio <= 1.5; "grokking" means ratio >= 2.
Conventions (``experiments._plotting``): symlog step axes (step 0 at 0; App 17.1 linear), train dashed, test solid.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import xarray as xr

from experiments._figure import SIZES, ClaimCheck
from experiments._plotting import colors, mean_band, plt, step_axis
from grokjax import ConfigError, first_crossing
from grokjax.store import attach_config

ABSENT_RATIO = 1.5
PRESENT_RATIO = 2.0
LONGER_FACTOR = 5.0  # "longer": the delay at the largest alpha is at least this many times the smallest alpha's
#: run key of a figure's configs -> the task it runs (``grokjax.tasks``)
TASK_OF = {"modular": "modular", "transformer": "transformer", "teacher": "teacher", "alpha_sweep": "mnist",
           "init_sweep": "mnist"}


def first_at_least(steps, curve, level) -> float:
    """First logged step where ``curve >= level`` (accuracies; NaN if never): :func:`grokjax.first_crossing`."""
    return float(first_crossing(steps, curve, level, below=False, inclusive=True))


def first_at_most(steps, curve, level) -> float:
    """First logged step where ``curve <= level`` (losses; NaN if never): :func:`grokjax.first_crossing`."""
    return float(first_crossing(steps, curve, level, inclusive=True))


def delay_ratio(t_train: float, t_test: float, last_step: float) -> float:
    """``t_test / t_train``; when the test curve never gets there, the lower bound ``last_step / t_train``;
    ``nan`` when the train curve never does either."""
    if np.isfinite(t_test):
        return float(t_test / max(t_train, 1.0))
    return float(last_step / max(t_train, 1.0)) if np.isfinite(t_train) else float("nan")


def sweep_times(ds: xr.Dataset, train_var: str, test_var: str, train_level: float, test_level: float,
                 dim: str = "alpha", **sel) -> dict[str, list[float]]:
    steps = ds["step"].values
    out: dict[str, list[float]] = {"t_train": [], "t_test": [], "ratio": []}
    for v in ds[dim].values:
        sub = ds.sel({dim: v, **sel}).mean("seed")
        tt = float(first_crossing(steps, sub[train_var].values, train_level, below=False, inclusive=True))
        te = float(first_crossing(steps, sub[test_var].values, test_level, below=False, inclusive=True))
        out["t_train"].append(tt)
        out["t_test"].append(te)
        out["ratio"].append(delay_ratio(tt, te, steps[-1]))
    return out


def sweep_verdict(ratios: list[float], t_train: list[float] | None = None,
                   t_test: list[float] | None = None) -> tuple[bool, str]:
    """Issue 5's criterion: grokking absent at the smallest α (ratio ≤ ABSENT_RATIO) and, at the largest α,
    present (ratio ≥ PRESENT_RATIO) or longer (train→test delay at least LONGER_FACTOR times the smallest α's,
    with a larger ratio)."""
    r = np.asarray(ratios, dtype=float)
    if not np.all(np.isfinite(r[[0, -1]])):
        return False, "train accuracy never reached its threshold at the smallest or largest alpha"
    longer = False
    if t_train is not None and t_test is not None:
        d0 = max(t_test[0] - t_train[0], 1.0)
        d1 = t_test[-1] - t_train[-1] if np.isfinite(t_test[-1]) else np.inf
        longer = bool(d1 >= LONGER_FACTOR * d0 and r[-1] > r[0])
    holds = bool(r[0] <= ABSENT_RATIO and ((r[-1] >= PRESENT_RATIO and r[-1] > r[0]) or longer))
    return holds, (f"delay ratio t_test/t_train (test never reached: lower bound steps/t_train); absent if <= "
                   f"{ABSENT_RATIO}; at the largest alpha present if >= {PRESENT_RATIO} or longer if the delay is "
                   f">= {LONGER_FACTOR}x the smallest alpha's; smallest alpha {r[0]:.3g}, largest {r[-1]:.3g}")


def curve_panel(ax, ds, var_train, var_test, dim, label_fmt, ylabel, logy=False, **sel):
    """Train dashed / test solid per value of ``dim``: seed means, with a ±1 SEM band over several seeds."""
    steps = ds["step"].values
    for color, v in zip(colors(ds.sizes[dim]), ds[dim].values):
        sub = ds.sel({dim: v, **sel}).transpose("seed", ...)
        if np.all(np.isnan(sub[var_test].values)):
            continue
        mean_band(ax, steps, sub[var_train].values, "--", color=color)
        mean_band(ax, steps, sub[var_test].values, "-", color=color, label=label_fmt.format(v))
    step_axis(ax, "step")
    if logy:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, title="test solid, train dashed", title_fontsize=7)


@dataclasses.dataclass(frozen=True)
class AlphaSweep:
    """An alpha-sweep figure judged by the shared sweep rule (:func:`sweep_verdict`): the curves it reads, their
    levels, the claim, the panel title and (optionally) the loss curves of a second panel. A dataset with several
    accuracy thresholds is read at its first; ``ylabel`` may name it (``{threshold:g}``)."""

    name: str
    claim: str
    title: str
    ylabel: str = "accuracy"
    train: str = "train_acc"
    test: str = "test_acc"
    level_train: float = 0.9
    level_test: float = 0.9
    loss_vars: tuple[str, str] | None = None

    def plot(self, ds):
        """Train dashed / test solid per alpha (and the losses in a second panel, if ``loss_vars``)."""
        ylabel = self.ylabel
        if "threshold" in ds.coords:
            ylabel = ylabel.format(threshold=float(ds["threshold"].values[0]))
            ds = ds.isel(threshold=0)  # the sweep the rule reads: the first accuracy threshold
        ncol = 2 if self.loss_vars else 1
        fig, axes = plt.subplots(1, ncol, figsize=(5.5 * ncol, 4))
        axes = np.atleast_1d(axes)
        curve_panel(axes[0], ds, self.train, self.test, "alpha", r"$\alpha$={:g}", ylabel)
        axes[0].set_title(self.title, fontsize=9)
        if self.loss_vars:
            curve_panel(axes[1], ds, *self.loss_vars, "alpha", r"$\alpha$={:g}", "loss", logy=True)
        return fig

    def judge(self, ds) -> ClaimCheck:
        """The shared sweep rule on the seed-mean curves."""
        if "threshold" in ds.coords:
            ds = ds.isel(threshold=0)
        t = sweep_times(ds, self.train, self.test, self.level_train, self.level_test)
        holds, details = sweep_verdict(t["ratio"], t["t_train"], t["t_test"])
        numbers = {"alpha": [float(a) for a in ds["alpha"].values], "t_train": t["t_train"], "t_test": t["t_test"],
                   "delay": [b - a for a, b in zip(t["t_train"], t["t_test"])], "delay_ratio": t["ratio"],
                   "ratio_largest_over_smallest_alpha": float(t["ratio"][-1] / t["ratio"][0])}
        details += (f"; thresholds train {self.level_train:g}, test {self.level_test:g} (nan = never within "
                    f"{int(ds.step[-1])} steps)")
        return ClaimCheck(self.name, self.claim, holds, numbers, details)


def merge(runs: dict[str, xr.Dataset]) -> xr.Dataset:
    """One dataset from the runs of a figure (``combine_first`` over their coordinates)."""
    if len(runs) == 1:
        return next(iter(runs.values()))
    out = None
    for ds in runs.values():
        out = ds if out is None else out.combine_first(ds)
    return out


def task_configs(configs: dict, name: str, size: str) -> dict[str, Any]:
    """``{run key: task Config}`` of figure ``name`` at ``size`` from its table ``configs[name][size]``."""
    from grokjax.tasks import load_task

    return {key: load_task(TASK_OF[key]).Config(**kwargs) for key, kwargs in configs[name][size].items()}


def task_protocol(figures: dict, configs: dict, notes: dict, functions: dict):
    """``run, judge, plot`` of a task-figure module: ``configs[name][size]`` (run key -> Config keywords),
    ``notes[name]`` (what ``small`` changes), ``functions[name] = (judge(ds), plot(ds))``."""

    def run(name: str, size: str, quiet: bool = False, seeds: list[int] | None = None) -> xr.Dataset:
        """Run the task(s) of figure ``name`` at ``size``; one dataset (the runs merged) with the figure's configs
        (:func:`grokjax.store.attach_config`: run key -> resolved config, read with ``run_config(ds, key)``),
        ``size``, ``size_note`` and the wall time. ``seeds`` replaces the init seeds of every config (curves and
        verdicts are seed means)."""
        if name not in figures:
            raise ConfigError("figure", f"unknown figure {name!r} (known: {', '.join(figures)})")
        if size not in SIZES:
            raise ConfigError("size", f"must be one of {', '.join(SIZES)}")
        from grokjax.tasks import load_task

        configs_ = task_configs(configs, name, size)
        note = notes[name]
        if seeds is not None:
            configs_ = {k: dataclasses.replace(c, seed=tuple(int(s) for s in seeds)) for k, c in configs_.items()}
        if size == "paper":
            note = "paper setting (see the figure description for the preset)"
        elif size == "tiny":
            note = "tiny smoke-test size, not meant to show the claim"
        for cfg in configs_.values():
            cfg.validate()
        t0 = time.perf_counter()
        runs = {key: load_task(TASK_OF[key]).run(cfg, quiet=quiet) for key, cfg in configs_.items()}
        wall = time.perf_counter() - t0
        if "modular" in runs:
            runs["modular"].attrs["p"] = configs_["modular"].p
        ds = merge(runs).copy()
        attach_config(ds, {k: getattr(c, "resolved", lambda: c)() for k, c in configs_.items()})
        ds.attrs.update(figure=name, size=size, size_note=note, wall_seconds_total=wall,
                        summaries="\n".join(str(r.attrs.get("summary", "")) for r in runs.values()))
        if not quiet:
            for r in runs.values():
                print(r.attrs.get("summary", ""))
        return ds

    def judge(name: str, ds: xr.Dataset) -> ClaimCheck:
        """The claim of figure ``name`` judged on its dataset; the run's wall time and size note are appended."""
        check = functions[name][0](ds)
        numbers = dict(check.numbers)
        numbers["wall_s"] = round(float(ds.attrs["wall_seconds_total"]), 1)
        size = ds.attrs["size"]
        return dataclasses.replace(check, numbers=numbers,
                                   details=check.details + f"; size={size}: {ds.attrs['size_note']}")

    def plot(name: str, ds: xr.Dataset):
        """Figure ``name`` drawn from its dataset."""
        fig = functions[name][1](ds)
        fig.tight_layout()
        return fig

    return run, judge, plot
