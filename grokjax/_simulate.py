"""One whole training run (network + exact lazy model + metrics) as a single jittable, vmappable function.

Two exact engines compute the same trajectory:

* ``weights``: the parameters themselves with any optax optimizer; the lazy model is the exact
  linearisation ``jax.linearize(f, theta0)`` trained by the same optimizer;
* ``reduced``: the sufficient statistics (wbar, M) of the network (reduced-dynamics.md) and the lazy model in
  function space (coefficients a with theta - theta0 = J0^T a, so f_lin - f0 = K0 a), for GD and heavy-ball
  momentum with fixed readouts; cost per step 2 D^2 P + 4 D^3 + P^2, independent of N.

All metrics are computed from the statistics, so both engines share one metric function.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from grokjax._config import PolyConfig, choose_engine
from grokjax._data import PolyData, make_data
from grokjax._kernels import (KERNEL_MOVEMENT, kernel_alignment, kernel_movement, kernel_regression_test_loss,
                              ntk_closed_form, ntk_features)
from grokjax._losses import decompose_test_loss
from grokjax._model import Stats, committee, init_params, predict_from_stats, sufficient_stats
from grokjax._schedule import log_steps

METRICS = ("train_loss", "test_loss", "pop_test_loss", "decomp_variance", "decomp_alignment", "decomp_linear",
           "alignment", "weight_norm", "movement", "m2", "q",
           "lazy_train_loss", "lazy_test_loss", "lazy_pop_test_loss") + KERNEL_MOVEMENT + ("after_kernel_test_loss",)


class Scalars(NamedTuple):
    """Swept hyperparameters of one configuration (array leaves, so a sweep is a vmap)."""

    alpha: jax.Array
    eps: jax.Array
    eta0: jax.Array
    init_scale: jax.Array
    momentum: jax.Array
    weight_decay: jax.Array

    @classmethod
    def from_config(cls, cfg: PolyConfig, dtype=jnp.float32) -> "Scalars":
        return cls(*(jnp.asarray(getattr(cfg, f), dtype) for f in cls._fields))


def _dtype(cfg: PolyConfig):
    return jnp.float64 if cfg.dtype == "float64" else jnp.float32


def make_optimizer(cfg: PolyConfig, s: Scalars, lr) -> optax.GradientTransformation:
    """The optax optimizer named by ``cfg.optimizer`` (all use step size ``lr``)."""
    if cfg.optimizer == "gd":
        return optax.sgd(lr)
    if cfg.optimizer in ("momentum", "nesterov"):
        return optax.sgd(lr, momentum=s.momentum, nesterov=cfg.optimizer == "nesterov")
    if cfg.optimizer == "adam":
        return optax.adam(lr)
    if cfg.optimizer == "adamw":
        return optax.adamw(lr, weight_decay=s.weight_decay)
    return getattr(optax, cfg.optimizer)(lr)  # any other optax optimizer, by name


# ------------------------------------------------------------------------------------------ engines
class _Problem(NamedTuple):
    data: PolyData
    params0: dict
    stats0: Stats
    f0_train: jax.Array
    offset: jax.Array  # subtracted from the network output on the train set (f0 if centred, else 0)
    lr: jax.Array
    s: Scalars


def _weights_engine(cfg: PolyConfig, pb: _Problem):
    """init/step/observe for the parameter-space engine (network and jax.linearize lazy model)."""
    s, X, y = pb.s, pb.data.X, pb.data.y
    opt = make_optimizer(cfg, s, pb.lr)
    f = lambda p, Xs: committee(p, Xs, s.alpha, s.eps)  # noqa: E731
    f0_train, lin_fn = jax.linearize(lambda p: f(p, X), pb.params0)
    lazy_offset = jnp.zeros_like(f0_train) if cfg.centered else f0_train

    def net_loss(p):
        return jnp.mean((f(p, X) - pb.offset - y) ** 2)

    def lazy_loss(d):
        return jnp.mean((lin_fn(d) + lazy_offset - y) ** 2)

    zeros = jax.tree.map(jnp.zeros_like, pb.params0)
    state = {"net": (pb.params0, opt.init(pb.params0)), "lazy": (zeros, opt.init(zeros))}

    def _update(loss_fn, pair):
        p, o = pair
        loss, grads = jax.value_and_grad(loss_fn)(p)
        updates, o = opt.update(grads, o, p)
        return loss, (optax.apply_updates(p, updates), o)

    def step(state):
        loss, net = _update(net_loss, state["net"])
        out = {"net": net, "lazy": state["lazy"]}
        lazy_loss_value = jnp.zeros((), loss.dtype)
        if cfg.lazy:
            lazy_loss_value, out["lazy"] = _update(lazy_loss, state["lazy"])
        return (loss, lazy_loss_value), out

    def observe(state):
        params = state["net"][0]
        net_stats = sufficient_stats(params)
        delta = state["lazy"][0]
        lazy_dstats = jax.jvp(sufficient_stats, (pb.params0,), (delta,))[1]
        leaves = jax.tree.leaves(params)
        norm2 = sum(jnp.sum(v**2) for v in leaves)
        move2 = sum(jnp.sum((v - v0) ** 2) for v, v0 in zip(leaves, jax.tree.leaves(pb.params0)))
        norm0 = sum(jnp.sum(v**2) for v in jax.tree.leaves(pb.params0))
        ntk = (lambda X1, X2: ntk_features(params, X1, X2, s.alpha, s.eps)) if cfg.readouts == "trained" else None
        return net_stats, lazy_dstats, jnp.sqrt(norm2), jnp.sqrt(move2 / norm0), ntk

    return state, step, observe


def _reduced_engine(cfg: PolyConfig, pb: _Problem):
    """init/step/observe for the sufficient-statistics engine (GD or heavy-ball momentum, fixed readouts)."""
    s, X, y = pb.s, pb.data.X, pb.data.y
    N, P = cfg.N, cfg.P
    eps, lr = s.eps, pb.lr
    c = 2.0 * s.alpha / (P * N)
    mu = s.momentum if cfg.optimizer == "momentum" else None
    w0, M0 = pb.stats0
    lazy_offset = jnp.zeros_like(pb.f0_train) if cfg.centered else pb.f0_train
    zeros_D, zeros_DD = jnp.zeros_like(w0), jnp.zeros_like(M0)

    net = {"wbar": w0, "M": M0, "C": M0}  # C = W0^T W / N
    # Lazy model in function space: its parameter change is J0^T a for a coefficient vector a (P,), because every
    # gradient (and momentum velocity) lies in the row space of the initial Jacobian J0. Then
    # f_lin(X) - f0(X) = K0 a with K0 = J0 J0^T the initial NTK, at O(P^2) per step instead of O(D^2 P).
    K0 = ntk_closed_form(X, X, pb.stats0, s.alpha, eps, N) if cfg.lazy else None
    zeros_P = jnp.zeros_like(y)
    lazy = {"a": zeros_P}
    if mu is not None:
        net.update(vbar=zeros_D, WV=zeros_DD, VV=zeros_DD, CV=zeros_DD)
        lazy.update(va=zeros_P)
    state = {"net": net, "lazy": lazy}

    def residual_moments(pred):
        delta = pred - y
        return jnp.mean(delta**2), X.T @ delta, (X * delta[:, None]).T @ X

    def net_step(st):
        w, M, C = st["wbar"], st["M"], st["C"]
        loss, b, S = residual_moments(predict_from_stats(Stats(w, M), X, s.alpha, eps) - pb.offset)
        SM = S @ M
        g = c * (b + eps * S @ w)
        WG = c * (jnp.outer(w, b) + eps * M @ S)
        Sw = S @ w
        GG = c**2 * (jnp.outer(b, b) + eps * (jnp.outer(Sw, b) + jnp.outer(b, Sw)) + eps**2 * SM @ S)
        CG = c * (jnp.outer(w0, b) + eps * C @ S)
        if mu is None:
            v, WV, VV, CV = g, WG, GG, CG
        else:
            VG = c * (jnp.outer(st["vbar"], b) + eps * st["WV"].T @ S)
            v = g + mu * st["vbar"]
            WV = WG + mu * st["WV"]
            VV = GG + mu * (VG + VG.T) + mu**2 * st["VV"]
            CV = CG + mu * st["CV"]
        new = {"wbar": w - lr * v, "M": M - lr * (WV + WV.T) + lr**2 * VV, "C": C - lr * CV}
        if mu is not None:
            new.update(vbar=v, WV=WV - lr * VV, VV=VV, CV=CV)
        return loss, new

    def lazy_step(st):
        residual = K0 @ st["a"] + lazy_offset - y
        grad = (2.0 / P) * residual
        if mu is None:
            return jnp.mean(residual**2), {"a": st["a"] - lr * grad}
        va = grad + mu * st["va"]
        return jnp.mean(residual**2), {"a": st["a"] - lr * va, "va": va}

    def lazy_statistics(a):
        """(delta wbar, delta M) of the lazy model from its coefficients: dW = (alpha/N)(1 u^T + eps W0 S_a)."""
        u = X.T @ a
        S_a = (X * a[:, None]).T @ X
        B = (s.alpha / N) * (jnp.outer(w0, u) + eps * M0 @ S_a)
        return Stats((s.alpha / N) * (u + eps * S_a @ w0), B + B.T)

    def step(state):
        loss, net = net_step(state["net"])
        out = {"net": net, "lazy": state["lazy"]}
        lazy_loss_value = jnp.zeros((), loss.dtype)
        if cfg.lazy:
            lazy_loss_value, out["lazy"] = lazy_step(state["lazy"])
        return (loss, lazy_loss_value), out

    def observe(state):
        st = state["net"]
        net_stats = Stats(st["wbar"], st["M"])
        lazy_dstats = lazy_statistics(state["lazy"]["a"])
        tr0 = jnp.trace(M0)
        norm = jnp.sqrt(N * jnp.trace(st["M"]))
        move = jnp.sqrt(jnp.maximum(jnp.trace(st["M"]) + tr0 - 2.0 * jnp.trace(st["C"]), 0.0) / tr0)
        return net_stats, lazy_dstats, norm, move, None

    return state, step, observe


# ------------------------------------------------------------------------------------------ one run
def simulate(cfg: PolyConfig, scalars: Scalars, key: jax.Array, on_interval=None) -> dict[str, jax.Array]:
    """Train the network (and its lazy model) for ``cfg.steps`` steps; return metrics on the log schedule.

    ``cfg`` is static (shapes, engine, optimizer kind); ``scalars`` and ``key`` are traced, so this function
    can be vmapped over configurations. Returns a dict of arrays: every name in :data:`METRICS` with shape
    (L,) for the L logged steps, plus scalars ``kr_test_loss`` (kernel regression with the initial NTK),
    ``diverged_step`` and ``lazy_diverged_step`` (-1 when the run stayed finite and below the bound).
    ``on_interval(step)``, if given, is called from the compiled run (``jax.debug.callback``) after each
    logging interval with the step reached; it drives progress bars.
    """
    dtype = _dtype(cfg)
    k_data, k_init = jax.random.split(key)
    data = make_data(k_data, cfg.D, cfg.P, cfg.P_test, convention=cfg.convention, target=cfg.target, dtype=dtype)
    params0 = init_params(k_init, cfg.N, cfg.D, init_scale=scalars.init_scale,
                          trained_readouts=cfg.readouts == "trained", dtype=dtype)
    return simulate_from(cfg, scalars, data, params0, on_interval)


def simulate_from(cfg: PolyConfig, scalars: Scalars, data: PolyData, params0: dict,
                  on_interval=None) -> dict[str, jax.Array]:
    """:func:`simulate` with explicit data and initial parameters (custom labels, aligned initialisations).

    ``scalars.init_scale`` is not applied here (scale ``params0`` yourself). The population metrics
    (``pop_test_loss``, ``decomp_*``, ``lazy_pop_test_loss``) assume y = c0 + c2 (beta.x)^2 with the given
    ``data.beta``; for other labels pass ``c2 = nan`` and they come out NaN (the empirical losses stay exact).
    """
    s = scalars
    dtype = _dtype(cfg)
    stats0 = sufficient_stats(params0)
    f0_train = predict_from_stats(stats0, data.X, s.alpha, s.eps)
    f0_test = predict_from_stats(stats0, data.X_test, s.alpha, s.eps)
    offset = f0_train if cfg.centered else jnp.zeros_like(f0_train)
    lr = s.eta0 * cfg.N / s.alpha**2
    pb = _Problem(data, params0, stats0, f0_train, offset, lr, s)

    engine = choose_engine(cfg)
    build = _reduced_engine if engine == "reduced" else _weights_engine
    state0, step, observe = build(cfg, pb)
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

    bound = jnp.asarray(cfg.divergence_bound, dtype)

    def guarded_step(i, carry):
        state, div, lazy_div = carry
        (loss, lazy_loss), new = step(state)
        bad = ~jnp.isfinite(loss) | (loss > bound) | (div >= 0)
        lazy_bad = ~jnp.isfinite(lazy_loss) | (lazy_loss > bound) | (lazy_div >= 0)
        net_part = jax.tree.map(lambda a, b: jnp.where(bad, a, b), state["net"], new["net"])
        lazy_part = jax.tree.map(lambda a, b: jnp.where(lazy_bad, a, b), state["lazy"], new["lazy"])
        div = jnp.where((div < 0) & bad, i, div)
        lazy_div = jnp.where((lazy_div < 0) & lazy_bad, i, lazy_div)
        return {"net": net_part, "lazy": lazy_part}, div, lazy_div

    schedule = log_steps(cfg.steps, cfg.n_log, cfg.log_schedule)
    intervals = jnp.asarray(np.diff(schedule, prepend=0), jnp.int32)  # first interval is empty: step 0
    starts = jnp.asarray(np.concatenate([[0], schedule[:-1]]), jnp.int32)
    minus_one = jnp.asarray(-1, jnp.int32)

    def interval(carry, xs):
        start, length = xs
        carry = lax.fori_loop(start, start + length, guarded_step, carry)
        if on_interval is not None:
            jax.debug.callback(on_interval, start + length)
        return carry, metrics(carry[0])

    (state, div, lazy_div), logged = lax.scan(interval, (state0, minus_one, minus_one), (starts, intervals))
    out = {k: logged[k] for k in METRICS}
    out["diverged_step"] = div
    out["lazy_diverged_step"] = lazy_div
    if cfg.kernel_regression:
        out["kr_test_loss"] = _kernel_regression_loss(cfg, pb, f0_test, _initial_ntk(cfg, pb))
    else:
        out["kr_test_loss"] = jnp.full((), jnp.nan, dtype)
    return out


def _initial_ntk(cfg: PolyConfig, pb: _Problem):
    """K0(X1, X2): the NTK at initialisation (per-neuron features with trained readouts, else closed form)."""
    if cfg.readouts == "trained":
        return lambda X1, X2: ntk_features(pb.params0, X1, X2, pb.s.alpha, pb.s.eps)
    return lambda X1, X2: ntk_closed_form(X1, X2, pb.stats0, pb.s.alpha, pb.s.eps, cfg.N)


def _kernel_regression_loss(cfg: PolyConfig, pb: _Problem, f0_test, kernel) -> jax.Array:
    """Test MSE of kernel regression with ``kernel`` (K0: the lazy model trained to convergence; K_t: the
    "after kernel"). Centred: f~ = f - f0 regresses y; uncentred: f0 + K K^-1 (y - f0)."""
    data = pb.data
    offset, test_offset = (0.0, 0.0) if cfg.centered else (pb.f0_train, f0_test)
    return kernel_regression_test_loss(kernel, data.X, data.y, data.X_test, data.y_test, cfg.ridge, offset,
                                       test_offset)


def _kernel_metrics(cfg: PolyConfig, pb: _Problem, kernel, X_align, y_align, K0_align, f0_test) -> dict:
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


def static_part(cfg: PolyConfig) -> PolyConfig:
    """``cfg`` with the swept scalars reset to defaults: configurations that differ only in swept scalars share
    one compiled program."""
    return cfg.replace(**{name: getattr(PolyConfig, name) for name in Scalars._fields})


@functools.lru_cache(maxsize=64)
def compiled_simulate(static_cfg: PolyConfig, batched: bool = False):
    """Jitted ``simulate`` for one static configuration (``vmap``-ed over configurations when ``batched``)."""
    fn = functools.partial(simulate, static_cfg)
    return jax.jit(jax.vmap(fn) if batched else fn)


def run_single(cfg: PolyConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Run one configuration (compiled once per static shape) and return numpy metrics."""
    cfg.validate()
    with jax.enable_x64(cfg.dtype == "float64"):
        out = compiled_simulate(static_part(cfg))(Scalars.from_config(cfg, _dtype(cfg)), jax.random.PRNGKey(seed))
        return {k: np.asarray(v) for k, v in out.items()}


def logged_steps(cfg: PolyConfig) -> np.ndarray:
    """The steps at which :func:`simulate` records metrics."""
    return log_steps(cfg.steps, cfg.n_log, cfg.log_schedule)
