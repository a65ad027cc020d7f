"""One whole training run (network + exact lazy model + metrics) as a single jittable, vmappable function.

Two exact engines compute the same trajectory:

* ``weights``: the parameters themselves with any optax optimizer; the lazy model is the exact
  linearisation ``jax.linearize(f, theta0)`` trained by the same optimizer;
* ``reduced``: the sufficient statistics (wbar, M) of the network (reduced-dynamics.md) and the lazy model in
  function space (coefficients a with theta - theta0 = J0^T a, so f_lin - f0 = K0 a), for GD and heavy-ball
  momentum with fixed readouts; cost per step 2 D^2 P + 4 D^3 + P^2, independent of N.

All metrics are computed from the statistics, so both engines share one metric function. The run is the
core loop (:func:`grokjax._loop.run_logged`: log-interval scan with the divergence guard) on the schedule of
:func:`grokjax._schedule.log_steps`. :func:`simulate_weights` runs the same weights engine and loop for what the
statistics cannot express (phi = h + (eps/2) h^degree, weighted points, decoupled weight decay) and records
forward-pass metrics, parameters and predictions (the appendix studies).
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from grokjax._config import STATIC_FIELDS, SWEEPABLE, PolyConfig, choose_engine
from grokjax._data import PolyData, make_data
from grokjax._engines import ENGINES, Problem, make_optimizer  # noqa: F401 (make_optimizer re-exported)
from grokjax._kernels import (KERNEL_MOVEMENT, kernel_alignment, kernel_movement, kernel_regression_test_loss,
                              ntk_closed_form, ntk_features)
from grokjax._loop import run_logged
from grokjax._losses import decompose_test_loss, mean_squared_error
from grokjax._model import Stats, committee, init_params, predict_from_stats, sufficient_stats
from grokjax._schedule import log_steps

METRICS = ("train_loss", "test_loss", "pop_test_loss", "decomp_variance", "decomp_alignment", "decomp_linear",
           "alignment", "weight_norm", "movement", "m2", "q",
           "lazy_train_loss", "lazy_test_loss", "lazy_pop_test_loss") + KERNEL_MOVEMENT + ("after_kernel_test_loss",)


# swept fields are leaves, the others static; unflattening does not validate again (PolyConfig._tree_unflatten)
jax.tree_util.register_pytree_node(PolyConfig, PolyConfig._tree_flatten, PolyConfig._tree_unflatten)


class Scalars(NamedTuple("_SweptValues", [(name, jax.Array) for name in SWEEPABLE])):
    """The swept fields of :class:`PolyConfig` (derived from its declaration) as arrays."""

    @classmethod
    def from_config(cls, cfg: PolyConfig, dtype=jnp.float32) -> "Scalars":
        return cls(*(jnp.asarray(getattr(cfg, f), dtype) for f in cls._fields))


def as_traced(cfg: PolyConfig, values=None) -> PolyConfig:
    """``cfg`` with its swept fields as arrays of its dtype (``values``: a mapping or :class:`Scalars` of
    per-field values, e.g. one column per field of a sweep chunk). Call inside ``jax.enable_x64`` for float64."""
    values = cfg if values is None else values
    get = values.get if isinstance(values, dict) else (lambda name: getattr(values, name))
    return cfg.with_leaves(**{f: jnp.asarray(get(f), _dtype(cfg)) for f in SWEEPABLE})


def _dtype(cfg: PolyConfig):
    return jnp.float64 if cfg.dtype == "float64" else jnp.float32


# ------------------------------------------------------------------------------------------ one run
def simulate(cfg: PolyConfig, key: jax.Array, on_interval=None) -> dict[str, jax.Array]:
    """Train the network (and its lazy model) for ``cfg.steps`` steps; return metrics on the log schedule.

    ``cfg`` is a pytree: its swept fields (alpha, eps, eta0, init_scale, momentum, weight_decay) are traced
    leaves and the rest (shapes, engine, optimizer kind) static, so this function can be vmapped over
    configurations (see :func:`as_traced`). Returns a dict of arrays: every name in :data:`METRICS` with shape
    (L,) for the L logged steps, plus scalars ``kr_test_loss`` (kernel regression with the initial NTK),
    ``diverged_step`` and ``lazy_diverged_step`` (-1 when the run stayed finite and below the bound).
    ``on_interval(step)``, if given, is called from the compiled run (``jax.debug.callback``) after each
    logging interval with the step reached; it drives progress bars.
    """
    dtype = _dtype(cfg)
    k_data, k_init = jax.random.split(key)
    data = make_data(k_data, cfg.D, cfg.P, cfg.P_test, convention=cfg.convention, target=cfg.target, dtype=dtype)
    params0 = init_params(k_init, cfg.N, cfg.D, init_scale=cfg.init_scale,
                          trained_readouts=cfg.readouts == "trained", dtype=dtype)
    return simulate_from(cfg, None, data, params0, on_interval)


def simulate_from(cfg: PolyConfig, scalars: Scalars | None, data: PolyData, params0: dict,
                  on_interval=None) -> dict[str, jax.Array]:
    """:func:`simulate` with explicit data and initial parameters (custom labels, aligned initialisations).

    The swept values are ``cfg``'s own, or those of ``scalars`` when given (a :class:`Scalars`, which then
    replace ``cfg``'s). ``init_scale`` is not applied here (scale ``params0`` yourself). The population metrics
    (``pop_test_loss``, ``decomp_*``, ``lazy_pop_test_loss``) assume y = c0 + c2 (beta.x)^2 with the given
    ``data.beta``; for other labels pass ``c2 = nan`` and they come out NaN (the empirical losses stay exact).
    """
    if scalars is not None:
        cfg = as_traced(cfg, scalars)
    s = cfg
    dtype = _dtype(cfg)
    stats0 = sufficient_stats(params0)
    f0_train = predict_from_stats(stats0, data.X, s.alpha, s.eps)
    f0_test = predict_from_stats(stats0, data.X_test, s.alpha, s.eps)
    offset = f0_train if cfg.centered else jnp.zeros_like(f0_train)
    lr = cfg.lr
    pb = Problem(data, params0, stats0, f0_train, offset, lr, s)

    engine = choose_engine(cfg)
    state0, step, observe = ENGINES[engine].build(cfg, pb)
    n_align = min(cfg.n_align, cfg.P_test)
    X_align, y_align = data.X_test[:n_align], data.y_test[:n_align]
    K0_align = _initial_ntk(cfg, pb)(X_align, X_align) if n_align > 0 else None

    def metrics(state):
        net_stats, lazy_dstats, norm, move, ntk = observe(state)
        base = stats0 if cfg.centered else Stats(jnp.zeros_like(stats0.wbar), jnp.zeros_like(stats0.M))
        dnet = Stats(net_stats.wbar - base.wbar, net_stats.M - base.M)
        lazy_base = Stats(jnp.zeros_like(stats0.wbar), jnp.zeros_like(stats0.M)) if cfg.centered else stats0
        dlazy = Stats(lazy_dstats.wbar + lazy_base.wbar, lazy_dstats.M + lazy_base.M)
        dec = decompose_test_loss(dnet, data.beta, data.c0, data.c2, s.alpha, s.eps)
        lazy_dec = decompose_test_loss(dlazy, data.beta, data.c0, data.c2, s.alpha, s.eps)
        out = {
            "train_loss": jnp.mean((predict_from_stats(dnet, data.X, s.alpha, s.eps) - data.y) ** 2),
            "test_loss": jnp.mean((predict_from_stats(dnet, data.X_test, s.alpha, s.eps) - data.y_test) ** 2),
            "pop_test_loss": dec.total,
            "decomp_variance": dec.variance,
            "decomp_alignment": dec.alignment,
            "decomp_linear": dec.linear,
            "weight_norm": norm,
            "movement": move,
            "m2": data.beta @ net_stats.M @ data.beta / cfg.D**2,
            "q": jnp.trace(net_stats.M) / cfg.D,
            "lazy_train_loss": jnp.mean((predict_from_stats(dlazy, data.X, s.alpha, s.eps) - data.y) ** 2),
            "lazy_test_loss": jnp.mean((predict_from_stats(dlazy, data.X_test, s.alpha, s.eps)
                                        - data.y_test) ** 2),
            "lazy_pop_test_loss": lazy_dec.total,
        }
        kernel = ntk or (lambda X1, X2: ntk_closed_form(X1, X2, net_stats, s.alpha, s.eps, cfg.N))  # current NTK
        out.update(_kernel_metrics(cfg, pb, kernel, X_align, y_align, K0_align, f0_test))
        return out

    def split_losses(state):
        (loss, lazy_loss), new = step(state)
        return {"net": loss, "lazy": lazy_loss}, new

    bound = jnp.asarray(cfg.divergence_bound, dtype)
    _, logged, div = run_logged(split_losses, metrics, state0, logged_steps(cfg), bound=bound, parts=("net", "lazy"),
                                on_interval=on_interval)
    out = {k: logged[k] for k in METRICS}
    out["diverged_step"] = div["net"]
    out["lazy_diverged_step"] = div["lazy"]
    if cfg.kernel_regression:
        out["kr_test_loss"] = _kernel_regression_loss(cfg, pb, f0_test, _initial_ntk(cfg, pb))
    else:
        out["kr_test_loss"] = jnp.full((), jnp.nan, dtype)
    return out


def simulate_weights(cfg: PolyConfig, data: PolyData, params0: dict, *, scalars: Scalars | None = None,
                     degree: int = 2, train_weight=None, test_weight=None, decay=None, log_params: bool = False,
                     log_preds: bool = False, on_interval=None) -> dict[str, jax.Array]:
    """Train ``params0`` with the ``weights`` engine on arbitrary labels; record forward-pass metrics.

    The network is :func:`grokjax.committee` with phi(h) = h + (eps/2) h^degree (readouts trained when
    ``params0`` has ``"a"``), the predictor f - f0 when ``cfg.centered``, the loss the MSE of
    :func:`grokjax._losses.mean_squared_error` weighted by ``train_weight`` (``test_weight`` on the test set;
    weight 0 pads a smaller set), the optimizer ``cfg.optimizer`` with step size ``cfg.lr`` = eta0 N/alpha^2 plus,
    with ``decay``, a decoupled weight decay theta <- theta - lr u - decay theta per step.
    Only ``data.X, y, X_test, y_test`` are read (:func:`grokjax._data.labelled_data` builds them); the lazy model
    is not trained. Swept values and the schedule are as in :func:`simulate_from`.

    Returns ``train_loss``, ``test_loss`` and ``weight_norm`` (L,) on :func:`logged_steps`, ``params`` (a
    pytree with a leading L axis) if ``log_params``, ``pred_train`` / ``pred_test`` (L, P) if ``log_preds``, and
    ``diverged_step`` (-1 when the train loss stayed finite and below ``cfg.divergence_bound``).
    """
    cfg = cfg.replace(lazy=False, engine="weights")
    if scalars is not None:
        cfg = as_traced(cfg, scalars)
    s = cfg
    f = lambda p, X: committee(p, X, s.alpha, s.eps, degree)  # noqa: E731
    f0_train, f0_test = f(params0, data.X), f(params0, data.X_test)
    if not cfg.centered:
        f0_train, f0_test = jnp.zeros_like(f0_train), jnp.zeros_like(f0_test)
    pb = Problem(data, params0, sufficient_stats(params0), f0_train, f0_train, cfg.lr, s, degree, train_weight,
                 decay)
    state0, step, observe = ENGINES["weights"].build(cfg, pb)

    def metrics(state):
        p = state["net"][0]
        pred_train, pred_test = f(p, data.X) - f0_train, f(p, data.X_test) - f0_test
        out = {"train_loss": mean_squared_error(pred_train, data.y, train_weight),
               "test_loss": mean_squared_error(pred_test, data.y_test, test_weight),
               "weight_norm": observe(state)[2]}
        if log_params:
            out["params"] = p
        if log_preds:
            out["pred_train"], out["pred_test"] = pred_train, pred_test
        return out

    def net_loss(state):
        (loss, _), new = step(state)
        return {"net": loss}, new

    bound = jnp.asarray(cfg.divergence_bound, _dtype(cfg))
    _, logged, div = run_logged(net_loss, metrics, state0, logged_steps(cfg), bound=bound, parts=("net",),
                                on_interval=on_interval)
    return {**logged, "diverged_step": div["net"]}


def _initial_ntk(cfg: PolyConfig, pb: Problem):
    """K0(X1, X2): the NTK at initialisation (per-neuron features with trained readouts, else closed form)."""
    if cfg.readouts == "trained":
        return lambda X1, X2: ntk_features(pb.params0, X1, X2, pb.s.alpha, pb.s.eps)
    return lambda X1, X2: ntk_closed_form(X1, X2, pb.stats0, pb.s.alpha, pb.s.eps, cfg.N)


def _kernel_regression_loss(cfg: PolyConfig, pb: Problem, f0_test, kernel) -> jax.Array:
    """Test MSE of kernel regression with ``kernel`` (K0: the lazy model trained to convergence; K_t: the
    "after kernel"). Centred: f~ = f - f0 regresses y; uncentred: f0 + K K^-1 (y - f0)."""
    data = pb.data
    offset, test_offset = (0.0, 0.0) if cfg.centered else (pb.f0_train, f0_test)
    return kernel_regression_test_loss(kernel, data.X, data.y, data.X_test, data.y_test, cfg.ridge, offset,
                                       test_offset)


def _kernel_metrics(cfg: PolyConfig, pb: Problem, kernel, X_align, y_align, K0_align, f0_test) -> dict:
    """NTK metrics at one logged step from the current NTK ``kernel``: alignment with the target and kernel
    movement against K0 on the ``n_align`` held-out points (NaN when n_align = 0), and the after-kernel test
    loss (NaN unless ``cfg.kernel_regression``)."""
    nan = jnp.full((), jnp.nan, pb.data.y.dtype)
    out = {name: nan for name in ("alignment",) + KERNEL_MOVEMENT}
    if K0_align is not None:
        K = kernel(X_align, X_align)
        out["alignment"] = kernel_alignment(K, y_align, cfg.cka)
        out.update(kernel_movement(K, K0_align))
    out["after_kernel_test_loss"] = (_kernel_regression_loss(cfg, pb, f0_test, kernel) if cfg.kernel_regression
                                     else nan)
    return out


_simulate_jit = jax.jit(simulate)
_simulate_batched_jit = jax.jit(jax.vmap(simulate))


def compiled_simulate(batched: bool = False):
    """Jitted :func:`simulate` (``vmap``-ed over configurations when ``batched``); compiled once per static
    part of the config (its pytree structure)."""
    return _simulate_batched_jit if batched else _simulate_jit


def run_single(cfg: PolyConfig, seed: int | None = None) -> dict[str, np.ndarray]:
    """Run one (validated) configuration with ``seed`` (default ``cfg.seed``) and return numpy metrics."""
    seed = cfg.seed if seed is None else seed
    with jax.enable_x64(cfg.dtype == "float64"):
        out = _simulate_jit(as_traced(cfg.replace(seed=0)), jax.random.PRNGKey(seed))
        return {k: np.asarray(v) for k, v in out.items()}


def logged_steps(cfg: PolyConfig) -> np.ndarray:
    """The steps at which :func:`simulate` records metrics."""
    return log_steps(cfg.steps, cfg.n_log, cfg.log_schedule)
