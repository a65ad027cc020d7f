"""Shared private helpers of the realistic tasks (modular, transformer, mnist, teacher).

Conventions used throughout:

* **α scaling.** A task's predictor is ``α · h(x; θ)`` (un-centred) or ``α · [h(x; θ) − h(x; θ0)]`` (centred,
  Chizat–Oyallon–Bach), with ``θ0`` frozen at initialisation. Which one a task uses is stated in its module.
* **Exact linearisation.** ``h_lin(x; θ) = h(x; θ0) + J(x; θ0)(θ − θ0)``, computed with ``jax.jvp`` (no
  Jacobian is ever materialised); :func:`linearize` works for any pytree of parameters, including equinox
  modules.
* **Logging.** Training runs are one jitted ``lax.scan`` over logging points; between two logging points a
  ``lax.fori_loop`` takes the optimiser steps. Logging points are log-spaced (:func:`log_schedule`).
* **Grokking metrics.** :func:`first_step_above` gives the first logged step at which a curve reaches a
  threshold (``nan`` if never); the grokking *delay* is ``t_test − t_train`` for accuracies (or the analogous
  drop times for losses). ``nan`` means "never reached within the run".
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from grokjax._metrics import first_crossing


# --------------------------------------------------------------------------------------------------- schedule
def log_schedule(n_steps: int, n_points: int) -> np.ndarray:
    """Increasing unique integer steps in ``[0, n_steps]``, roughly log-spaced, always containing 0 and n_steps."""
    if n_steps <= 0:
        return np.array([0], dtype=np.int64)
    raw = np.unique(np.round(np.logspace(0, np.log10(n_steps), max(n_points - 1, 1))).astype(np.int64))
    return np.unique(np.concatenate([[0], raw, [n_steps]]))


def train_scan(step: Callable[[Any], Any], metrics: Callable[[Any], Any], state: Any,
               log_steps: np.ndarray) -> tuple[Any, Any]:
    """Run ``state = step(state)`` up to ``log_steps[-1]`` times, evaluating ``metrics(state)`` at each logged step.

    Returns ``(final_state, stacked_metrics)`` where each metric gets a leading axis of ``len(log_steps)``.
    The whole run is traceable (call it inside ``jax.jit``/``jax.vmap``); the number of steps between
    logging points is a scanned (un-batched) integer, so vmapping over hyperparameters is free.
    """
    gaps = np.diff(np.asarray(log_steps, dtype=np.int64), prepend=0).astype(np.int32)

    def outer(carry, gap):
        carry = lax.fori_loop(0, gap, lambda _, s: step(s), carry)
        return carry, metrics(carry)

    return lax.scan(outer, state, jnp.asarray(gaps))


# ----------------------------------------------------------------------------------------------- linearisation
def run_alpha_seed_grid(one: Callable[[jax.Array, jax.Array], Any], alphas, seeds) -> tuple[Any, float]:
    """Run ``one(alpha, key)`` for every (alpha, seed) pair as one compiled program (vmap over both axes).

    Returns the metrics as numpy arrays with leading axes (alpha, seed) and the wall time in seconds
    (compilation included).
    """
    import time

    keys = jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds])
    fn = jax.jit(jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None)))
    start = time.perf_counter()
    out = jax.block_until_ready(fn(jnp.asarray(alphas, dtype=jnp.float32), keys))
    return jax.tree_util.tree_map(np.asarray, out), time.perf_counter() - start


def tree_sub(a: Any, b: Any) -> Any:
    return jax.tree_util.tree_map(lambda x, y: x - y, a, b)


def tree_norm(tree: Any) -> jax.Array:
    """Euclidean (Frobenius) norm of all leaves of a pytree together."""
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in leaves))


def linearize(fn: Callable[..., Any], params0: Any) -> Callable[..., Any]:
    """The exact first-order Taylor model of ``fn(params, *args)`` around ``params0``.

    ``f_lin(params, *args) = fn(params0, *args) + J(params0, *args) · (params − params0)`` via one ``jax.jvp``.
    At ``params = params0`` it equals ``fn`` exactly; it is linear (affine) in ``params``.
    """

    def f_lin(params, *args):
        delta = tree_sub(params, params0)
        y0, dy = jax.jvp(lambda p: fn(p, *args), (params0,), (delta,))
        return jax.tree_util.tree_map(jnp.add, y0, dy)

    return f_lin


# ------------------------------------------------------------------------------------------------- metrics
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


def delays_along(ds_train: np.ndarray, ds_test: np.ndarray, steps: np.ndarray, threshold: float,
                 below: bool = False) -> np.ndarray:
    """Vectorised :func:`grok_delay` over leading axes: returns an array ``[..., 3]`` of (t_train, t_test, delay)."""
    tt = np.asarray(first_crossing(steps, ds_train, threshold, below=below, inclusive=True))
    te = np.asarray(first_crossing(steps, ds_test, threshold, below=below, inclusive=True))
    return np.stack([tt, te, te - tt], axis=-1)


def fmt_steps(value: float) -> str:
    return "never" if not np.isfinite(value) else f"{int(value)}"


# ------------------------------------------------------------------------------------------------- presets
def resolve_preset(config: Any, presets: dict[str, dict[str, Any]]) -> Any:
    """Fill every ``None`` field of ``config`` from ``presets[config.preset]`` (explicit values win)."""
    import dataclasses

    values = presets[config.preset]
    fill = {f.name: values[f.name] for f in dataclasses.fields(config)
            if getattr(config, f.name) is None and f.name in values}
    return dataclasses.replace(config, **fill)
