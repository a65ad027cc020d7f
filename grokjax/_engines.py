"""The two exact engines of :func:`grokjax.simulate`, each a named :class:`Engine` that declares what it supports.

* ``weights``: the parameters themselves with any optax optimizer (fixed or trained readouts); the lazy model is
  the exact linearisation ``jax.linearize(f, theta0)`` trained by the same optimizer;
* ``reduced``: the sufficient statistics (wbar, M) of the network (reduced-dynamics.md) and the lazy model in
  function space (theta - theta0 = J0^T a, so f_lin - f0 = K0 a), for GD, heavy-ball momentum and Nesterov
  momentum with fixed readouts; cost per step 2 D^2 P + 4 D^3 + P^2, independent of N.

Momentum follows optax's ``trace``: v <- g + mu v, update u = v (heavy ball) or u = g + mu v (Nesterov),
theta <- theta - lr u. On the reduced engine the velocity V (N, D) is carried through its statistics
vbar = V^T 1/N, W^T V/N, V^T V/N and W0^T V/N, which close under the update exactly like (wbar, M) do.

:func:`optax_step` is the one optimizer step of the weights engine (the tasks train through :func:`grokjax.run_model`).

``Engine.supports(cfg)`` returns ``None`` or ``(field, reason)``; :class:`grokjax.PolyConfig` calls it at
construction, so an option an engine does not implement is refused (exit code 2 in the CLI), never ignored.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from grokjax._data import PolyData
from grokjax._kernels import ntk_closed_form, ntk_features
from grokjax._losses import mean_squared_error
from grokjax._model import Stats, committee, predict_from_stats, sufficient_stats

MOMENTUM_OPTIMIZERS = ("momentum", "nesterov")


class Problem(NamedTuple):
    """What every engine needs: data, initial parameters and statistics, the train-set offset, step size."""

    data: PolyData
    params0: dict
    stats0: Stats
    f0_train: jax.Array
    offset: jax.Array  # subtracted from the network output on the train set (f0 if centred, else 0)
    lr: jax.Array
    s: Any  # the (traced) PolyConfig: swept scalars alpha, eps, eta0, init_scale, momentum, weight_decay
    # read by the weights engine only (grokjax._simulate.simulate_weights); the defaults are the paper's model
    degree: int = 2  # phi(h) = h + (eps/2) h^degree
    train_weight: Any = None  # per-point weights of the training loss (None: plain mean)
    decay: Any = None  # decoupled weight decay of the network per step: theta <- theta - lr u - decay theta


class Engine(NamedTuple):
    """``build(cfg, problem) -> (state0, step, observe)``; ``supports(cfg) -> None | (field, reason)``.

    ``step(state) -> ((loss, lazy_loss), state)``; ``observe(state) -> (net_stats, lazy_dstats, weight_norm,
    movement, ntk)`` where ``ntk`` is ``None`` (closed form from the statistics) or ``ntk(X1, X2)``.
    """

    name: str
    build: Callable
    supports: Callable


def make_optimizer(cfg, s, lr) -> optax.GradientTransformation:
    """The optax optimizer named by ``cfg.optimizer`` (all use step size ``lr``)."""
    if cfg.optimizer == "gd":
        return optax.sgd(lr)
    if cfg.optimizer in MOMENTUM_OPTIMIZERS:
        return optax.sgd(lr, momentum=s.momentum, nesterov=cfg.optimizer == "nesterov")
    if cfg.optimizer == "adam":
        return optax.adam(lr)
    if cfg.optimizer == "adamw":
        return optax.adamw(lr, weight_decay=s.weight_decay)
    return getattr(optax, cfg.optimizer)(lr)  # any other optax optimizer, by name


# ------------------------------------------------------------------------------------------ weights
def _weights_supports(cfg):
    return None  # any optimizer, fixed or trained readouts, centred or not


def optax_step(opt: optax.GradientTransformation, loss_fn: Callable, pair, *args):
    """One optimizer step on ``loss_fn(params, *args)`` from ``pair = (params, opt_state)``: returns
    ``(loss before the step, (params, opt_state))``."""
    p, o = pair
    loss, grads = jax.value_and_grad(loss_fn)(p, *args)
    updates, o = opt.update(grads, o, p)
    return loss, (optax.apply_updates(p, updates), o)


def _weights_build(cfg, pb: Problem):
    s, X, y = pb.s, pb.data.X, pb.data.y
    opt = make_optimizer(cfg, s, pb.lr)
    f = lambda p, Xs: committee(p, Xs, s.alpha, s.eps, pb.degree)  # noqa: E731
    f0_train, lin_fn = jax.linearize(lambda p: f(p, X), pb.params0)
    lazy_offset = jnp.zeros_like(f0_train) if cfg.centered else f0_train

    def net_loss(p):
        return mean_squared_error(f(p, X) - pb.offset, y, pb.train_weight)

    def lazy_loss(d):
        return mean_squared_error(lin_fn(d) + lazy_offset, y, pb.train_weight)

    zeros = jax.tree.map(jnp.zeros_like, pb.params0)
    state = {"net": (pb.params0, opt.init(pb.params0)), "lazy": (zeros, opt.init(zeros))}

    def step(state):
        loss, net = optax_step(opt, net_loss, state["net"])
        if pb.decay is not None:
            net = (jax.tree.map(lambda new, old: new - pb.decay * old, net[0], state["net"][0]), net[1])
        out = {"net": net, "lazy": state["lazy"]}
        lazy_loss_value = jnp.zeros((), loss.dtype)
        if cfg.lazy:
            lazy_loss_value, out["lazy"] = optax_step(opt, lazy_loss, state["lazy"])
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


# ------------------------------------------------------------------------------------------ reduced
def _reduced_supports(cfg):
    if cfg.readouts != "fixed":
        return "readouts", "the reduced engine needs readouts='fixed' (use engine='weights')"
    if cfg.optimizer not in ("gd",) + MOMENTUM_OPTIMIZERS:
        return "optimizer", (f"the reduced engine implements 'gd', 'momentum' and 'nesterov', not "
                             f"{cfg.optimizer!r} (use engine='weights')")
    return None


def _reduced_build(cfg, pb: Problem):
    s, X, y = pb.s, pb.data.X, pb.data.y
    N, P = cfg.N, cfg.P
    eps, lr = s.eps, pb.lr
    c = 2.0 * s.alpha / (P * N)
    mu = s.momentum if cfg.optimizer in MOMENTUM_OPTIMIZERS else None
    nesterov = cfg.optimizer == "nesterov"
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
    if mu is not None:  # velocity statistics: vbar = V^T 1/N, WV = W^T V/N, VV = V^T V/N, CV = W0^T V/N
        net.update(vbar=zeros_D, WV=zeros_DD, VV=zeros_DD, CV=zeros_DD)
        lazy.update(va=zeros_P)
    state = {"net": net, "lazy": lazy}

    def residual_moments(pred):
        delta = pred - y
        return jnp.mean(delta**2), X.T @ delta, (X * delta[:, None]).T @ X

    def net_step(st):
        # gradient rows g_k = c (b + eps S w_k): G = c (1 b^T + eps W S); its statistics G^T 1/N, W^T G/N, ...
        w, M, C = st["wbar"], st["M"], st["C"]
        loss, b, S = residual_moments(predict_from_stats(Stats(w, M), X, s.alpha, eps) - pb.offset)
        g = c * (b + eps * S @ w)
        WG = c * (jnp.outer(w, b) + eps * M @ S)
        Sw = S @ w
        GG = c**2 * (jnp.outer(b, b) + eps * (jnp.outer(Sw, b) + jnp.outer(b, Sw)) + eps**2 * S @ M @ S)
        CG = c * (jnp.outer(w0, b) + eps * C @ S)
        if mu is None:  # update U = G
            u, WU, UU, CU = g, WG, GG, CG
            new = {}
        else:
            VG = c * (jnp.outer(st["vbar"], b) + eps * st["WV"].T @ S)  # V^T G / N (old velocity)
            v = g + mu * st["vbar"]  # V' = G + mu V
            WVn = WG + mu * st["WV"]
            VnG = GG + mu * VG  # V'^T G / N
            VVn = GG + mu * (VG + VG.T) + mu**2 * st["VV"]
            CVn = CG + mu * st["CV"]
            if nesterov:  # U = G + mu V'
                u, WU, CU = g + mu * v, WG + mu * WVn, CG + mu * CVn
                UU = GG + mu * (VnG + VnG.T) + mu**2 * VVn
                UV = VnG.T + mu * VVn  # U^T V' / N
            else:  # U = V'
                u, WU, UU, CU, UV = v, WVn, VVn, CVn, VVn
            new = {"vbar": v, "WV": WVn - lr * UV, "VV": VVn, "CV": CVn}  # WV of the updated W
        new.update(wbar=w - lr * u, M=M - lr * (WU + WU.T) + lr**2 * UU, C=C - lr * CU)
        return loss, new

    def lazy_step(st):
        residual = K0 @ st["a"] + lazy_offset - y
        grad = (2.0 / P) * residual
        if mu is None:
            return jnp.mean(residual**2), {"a": st["a"] - lr * grad}
        va = grad + mu * st["va"]
        update = grad + mu * va if nesterov else va
        return jnp.mean(residual**2), {"a": st["a"] - lr * update, "va": va}

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


ENGINES: dict[str, Engine] = {
    "weights": Engine("weights", _weights_build, _weights_supports),
    "reduced": Engine("reduced", _reduced_build, _reduced_supports),
}
