"""Shared private helpers of the realistic tasks (modular, transformer, mnist, teacher).

Every task is a client of the model-agnostic layer (:func:`grokjax.run_model`, ``grokjax/_lazy_rich.py``): it
builds a :class:`grokjax.Model` and a :class:`grokjax.LazyRichConfig` from its presets, and the layer owns the
α-scaled predictor (centred or not, stated in each task's module), the exact linearisation, the optimizer, the
training loop with its divergence guard (:data:`NONFINITE_ONLY`: a model stops only on a non-finite loss) and
the metrics. This module keeps what the tasks share around that: presets, config checks and summaries.

* **Grokking metrics.** :func:`first_step_above` gives the first logged step at which a curve reaches a
  threshold (``nan`` if never); the grokking *delay* is ``t_test − t_train`` for accuracies (or the analogous
  drop times for losses). ``nan`` means "never reached within the run".
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar

import numpy as np
import xarray as xr

from grokjax._errors import require
from grokjax._metrics import first_crossing

#: run_model's divergence_bound for the tasks: a model stops only on a non-finite loss (no finite float32 loss
#: exceeds it)
NONFINITE_ONLY = float(np.finfo(np.float32).max)


# ------------------------------------------------------------------------------------------------- metrics
def first_step_above(curve: np.ndarray, steps: np.ndarray, threshold: float) -> float:
    """First logged step at which ``curve >= threshold`` (``nan`` if never). ``curve`` is 1-D."""
    return float(first_crossing(steps, curve, threshold, below=False, inclusive=True))


def first_step_below(curve: np.ndarray, steps: np.ndarray, threshold: float) -> float:
    """First logged step at which ``curve <= threshold`` (``nan`` if never)."""
    return float(first_crossing(steps, curve, threshold, below=True, inclusive=True))


def grok_delay(train_acc: np.ndarray, test_acc: np.ndarray, steps: np.ndarray,
               threshold: float = 0.9) -> tuple[float, float, float]:
    """``(t_train, t_test, delay)``: first steps where train/test accuracy reach ``threshold`` and their gap.

    A test curve that never reaches the threshold gives ``t_test = delay = nan`` (counted as "no
    generalisation within the run", which callers report as an unbounded delay).
    """
    t_train = first_step_above(train_acc, steps, threshold)
    t_test = first_step_above(test_acc, steps, threshold)
    return t_train, t_test, t_test - t_train


def fmt_steps(value: float) -> str:
    return "never" if not np.isfinite(value) else f"{int(value)}"


def delay_lines(ds: xr.Dataset, level: float, tail: Callable[[xr.Dataset], str], select=None) -> list[str]:
    """One summary line per α of the seed-mean curves (``select``-ed, e.g. one threshold): the steps at which
    train/test accuracy reach ``level``, the delay, then ``tail(curves)``."""
    steps = ds["step"].values
    lines = []
    for a in ds["alpha"].values:
        sub = ds.sel(alpha=a).mean("seed")
        sub = sub if select is None else select(sub)
        tt, te, d = grok_delay(sub["train_acc"].values, sub["test_acc"].values, steps, level)
        lines.append(f"  alpha={a:g}: train {fmt_steps(tt)}, test {fmt_steps(te)}, delay {fmt_steps(d)}; {tail(sub)}")
    return lines


# ------------------------------------------------------------------------------------------------- configs
def check_run(cfg: Any) -> None:
    """The checks every task config shares: positive α values, steps >= 1, log_points >= 2, a seed."""
    require(len(cfg.alpha) >= 1 and all(a > 0 for a in cfg.alpha), "alpha", "needs positive values")
    require(cfg.steps >= 1, "steps", "must be >= 1")
    require(cfg.log_points >= 2, "log_points", "must be >= 2")
    require(len(cfg.seed) >= 1, "seed", "needs at least one seed")
    if hasattr(cfg, "kernel_points"):
        require(cfg.kernel_points >= 0, "kernel_points", "must be >= 0 (0 = kernel movement not tracked)")


def check_adamw(cfg: Any) -> None:
    require(cfg.lr > 0, "lr", "must be positive")
    require(cfg.weight_decay >= 0, "weight_decay", "must be >= 0")


def kernel_points_field():
    """The ``kernel_points`` field every task declares (one declaration): the probe set of the layer's kernel
    metrics (``LazyRichConfig.kernel_points``)."""
    from grokjax._config import param

    return param(0, "NTK movement from init, on this many test points (0 = off)", check=">=0")


class PresetConfig:
    """Base of the task configs with presets: fields left ``None`` come from ``PRESETS[preset]`` (explicit values
    win); :meth:`validate` checks the preset, then the task's own :meth:`check` and :func:`check_run` on the
    resolved config."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}

    def __post_init__(self):
        from grokjax._config import validate_fields

        validate_fields(self)  # every declared field (None = from the preset), once per construction

    def resolved(self):
        values = self.PRESETS[self.preset]
        return dataclasses.replace(self, **{f.name: values[f.name] for f in dataclasses.fields(self)
                                            if getattr(self, f.name) is None and f.name in values})

    def validate(self) -> None:
        require(self.preset in self.PRESETS, "preset", f"must be one of {', '.join(self.PRESETS)}")
        cfg = self.resolved()
        cfg.check()
        check_run(cfg)
        from grokjax._memory import check_task_memory

        check_task_memory(type(self).__module__.rsplit(".", 1)[-1], cfg)  # refused before compute if it cannot fit

    def check(self) -> None:  # the task's own checks (on the resolved config)
        pass
