"""Shared private helpers of the realistic tasks (modular, transformer, mnist, teacher).

Conventions used throughout:

* **α scaling.** A task's predictor is ``α · h(x; θ)`` (un-centred) or ``α · [h(x; θ) − h(x; θ0)]`` (centred,
  Chizat–Oyallon–Bach), with ``θ0`` frozen at initialisation. Which one a task uses is stated in its module.
* **Exact linearisation.** ``h_lin(x; θ) = h(x; θ0) + J(x; θ0)(θ − θ0)``, computed with ``jax.jvp`` (no
  Jacobian is ever materialised); :func:`linearize` works for any pytree of parameters, including equinox
  modules.
* **Training and logging.** A run is the core loop (:func:`grokjax._loop.run_logged`: one ``lax.scan`` over the
  log-spaced steps of :func:`grokjax._schedule.log_steps`, a ``lax.fori_loop`` of optimiser steps between two of
  them) with the divergence guard on non-finite losses (``diverged_step``: the first such step, -1 if none;
  the run is frozen there); :func:`run_grid` vmaps it over the swept values and seeds and labels the result.
* **Grokking metrics.** :func:`first_step_above` gives the first logged step at which a curve reaches a
  threshold (``nan`` if never); the grokking *delay* is ``t_test − t_train`` for accuracies (or the analogous
  drop times for losses). ``nan`` means "never reached within the run".
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from grokjax._errors import require
from grokjax._kernels import kernel_movement, ntk_gram
from grokjax._lazy_rich import linearize as _public_linearize
from grokjax._lazy_rich import tree_norm  # noqa: F401  (the tasks' ||theta||: one implementation, the layer's)
from grokjax._loop import run_logged
from grokjax._metrics import first_crossing


# --------------------------------------------------------------------------------------------------- training
#: run_model's divergence_bound for the tasks: a model stops only on a non-finite loss (no finite float32 loss
#: exceeds it)
NONFINITE_ONLY = float(np.finfo(np.float32).max)


def train(step: Callable[[Any], tuple[Any, Any]], metrics: Callable[[Any], dict], state: Any, steps: np.ndarray,
          parts: tuple[str, ...] | None = None) -> dict:
    """One run on the core loop: ``loss, state = step(state)``, ``metrics(state)`` at every logged step.

    Guarded against non-finite losses; ``parts`` (e.g. ``("net", "lin")``) guards the parts of a dict state
    separately. Returns the logged metrics plus ``diverged_step`` (and ``<part>_diverged_step`` for other parts).
    """
    _, logged, div = run_logged(step, metrics, state, steps, bound=jnp.inf, parts=parts)
    for part in parts or ("net",):
        logged["diverged_step" if part == "net" else f"{part}_diverged_step"] = div if parts is None else div[part]
    return logged


def run_grid(one: Callable[..., dict], axes: dict[str, Any], seeds, steps: np.ndarray,
             extra_dims: dict[str, tuple[str, ...]] | None = None, coords: dict | None = None) -> xr.Dataset:
    """Run ``one(*values, key) -> metrics`` on the grid ``axes`` x ``seeds`` as one compiled program (nested vmaps)
    and label it: dims ``(*axes, "seed")``, then ``"step"`` for logged curves, then ``extra_dims[name]``.

    ``attrs["wall_seconds"]`` is the wall time, compilation included.
    """
    extra_dims = extra_dims or {}
    n = len(axes)
    fn = jax.vmap(one, in_axes=(None,) * n + (0,))
    for i in reversed(range(n)):
        fn = jax.vmap(fn, in_axes=tuple(0 if j == i else None for j in range(n)) + (None,))
    keys = jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds])
    start = time.perf_counter()
    out = jax.block_until_ready(jax.jit(fn)(*(jnp.asarray(v, dtype=jnp.float32) for v in axes.values()), keys))
    wall = time.perf_counter() - start
    grid = tuple(axes) + ("seed",)

    def dims(name, value):
        extra = extra_dims.get(name, ())
        return grid + ("step",) * (value.ndim - len(grid) - len(extra)) + extra

    data = {name: (dims(name, np.asarray(v)), np.asarray(v)) for name, v in out.items()}
    ds = xr.Dataset(data, coords={**{k: list(v) for k, v in axes.items()}, "seed": list(seeds), "step": steps,
                                  **(coords or {})})
    ds.attrs["wall_seconds"] = wall
    return ds


# ----------------------------------------------------------------------------------------------- linearisation


def tree_sub(a: Any, b: Any) -> Any:
    return jax.tree_util.tree_map(lambda x, y: x - y, a, b)


def linearize(fn: Callable[..., Any], params0: Any) -> Callable[..., Any]:
    """The exact first-order Taylor model of ``fn(params, *args)`` around ``params0``: the public
    :func:`grokjax.linearize` (one ``jax.jvp``, no Jacobian; any pytree, equinox modules included)."""
    return _public_linearize(fn, params0)


# ------------------------------------------------------------------------------------------------- metrics
#: Above this many (point, output) columns the NTK Gram is built in column batches of this size (memory bound).
KERNEL_COLUMN_BATCH = 256


def kernel_tracker(fn: Callable[[Any, jax.Array], jax.Array], params0: Any, X: jax.Array,
                   points: int) -> Callable[[Any], dict]:
    """Kernel movement of ``fn(params, X) -> (n, *out)`` on the first ``points`` rows of ``X``, for the metrics of a
    compiled run: K0 is built once here, and the returned ``params -> {kernel_movement, kernel_alignment_init_*}``
    builds K_t by NTK-vector products (:func:`grokjax.ntk_gram`, output-traced Gram, no Jacobian formed) at each
    logged step. ``points = 0``: tracking off (returns ``{}``)."""
    if points == 0:
        return lambda params: {}
    Xk = X[:points]
    columns = int(np.prod(jax.eval_shape(fn, params0, Xk).shape))
    batch = None if columns <= KERNEL_COLUMN_BATCH else KERNEL_COLUMN_BATCH
    K0 = ntk_gram(fn, params0, Xk, batch_size=batch)
    return lambda params: kernel_movement(ntk_gram(fn, params, Xk, batch_size=batch), K0)


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of rows whose argmax equals the integer label."""
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy over rows (integer labels)."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, labels[..., None], axis=-1))


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
