"""A small generic weight-space simulator for the appendix studies (grokjax core cannot express these).

Model: f(x) = (alpha/N) sum_k a_k phi(w_k . x) with phi(h) = h + (eps/2) h^degree (``degree=2`` is the paper's
model; App 16 uses degree k for degree-k Hermite targets), a_k = 1 (fixed) or trained. Inputs are in the
internal convention (x ~ N(0, I/D), h = w . x); labels are arbitrary arrays.

* predictor: f(x; W) - f(x; W0) when ``centered``;
* loss: weighted mean squared error, L = sum_mu m_mu (f_mu - y_mu)^2 / sum_mu m_mu, no 1/2. The weights m
  (``train_mask``) let runs with different training-set sizes P share one compiled program (pad with m = 0);
  the test loss uses ``test_mask`` the same way;
* step: heavy-ball GD (optax convention v <- g + mu v) with step lr = eta0 N / alpha^2 and decoupled weight
  decay theta <- theta - lr v - eta0 * wd * theta, i.e. a decay of eta0 * wd per step independent of alpha and
  N (equivalently GD on L + wd alpha^2 |theta|^2 / (2N) when mu = 0);
* logging: on the static log schedule (``grokjax._schedule.log_steps``): train/test loss, ||theta||, and
  optionally the parameters (``log_params``) and test/train predictions (``log_preds``) for post-hoc analysis.

Everything swept (alpha, eps, eta0, wd, momentum, data, params0) is traced, so one static
:class:`GeneralSpec` is one compiled program that can be vmapped over all of them.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from grokjax._schedule import log_steps


@dataclasses.dataclass(frozen=True)
class GeneralSpec:
    """Static part of a run (shapes come from the arrays passed in)."""

    steps: int = 10_000
    n_log: int = 60
    log_schedule: str = "log"
    degree: int = 2
    centered: bool = True
    log_params: bool = False
    log_preds: bool = False

    def schedule(self) -> np.ndarray:
        return log_steps(self.steps, self.n_log, self.log_schedule)


class GeneralScalars(NamedTuple):
    alpha: jax.Array
    eps: jax.Array
    eta0: jax.Array
    wd: jax.Array
    momentum: jax.Array

    @classmethod
    def make(cls, alpha=1.0, eps=0.02, eta0=1.0, wd=0.0, momentum=0.0, dtype=jnp.float32):
        return cls(*(jnp.asarray(v, dtype) for v in (alpha, eps, eta0, wd, momentum)))


class GeneralData(NamedTuple):
    X: jax.Array  # (P, D)
    y: jax.Array  # (P,)
    X_test: jax.Array  # (P_test, D)
    y_test: jax.Array  # (P_test,)
    train_mask: jax.Array  # (P,) weights of the training points (0 = padding)
    test_mask: jax.Array  # (P_test,)


def make_general_data(X, y, X_test, y_test, train_mask=None, test_mask=None) -> GeneralData:
    X, X_test = jnp.asarray(X), jnp.asarray(X_test)
    ones = lambda n: jnp.ones((n,), X.dtype)  # noqa: E731
    return GeneralData(X, jnp.asarray(y, X.dtype), X_test, jnp.asarray(y_test, X.dtype),
                       ones(X.shape[0]) if train_mask is None else jnp.asarray(train_mask, X.dtype),
                       ones(X_test.shape[0]) if test_mask is None else jnp.asarray(test_mask, X.dtype))


def poly_phi(h, eps, degree: int):
    """phi(h) = h + (eps/2) h^degree."""
    return h + 0.5 * eps * h**degree


def general_forward(params, X, alpha, eps, degree: int = 2):
    W = params["W"]
    a = params["a"] if "a" in params else jnp.ones((W.shape[0],), W.dtype)
    return alpha * (poly_phi(X @ W.T, eps, degree) @ a) / W.shape[0]


def _wmean(values, mask):
    return jnp.sum(mask * values) / jnp.sum(mask)


def general_simulate(spec: GeneralSpec, s: GeneralScalars, data: GeneralData, params0: dict) -> dict:
    """Train from ``params0`` for ``spec.steps`` steps; metrics on ``spec.schedule()`` (leading axis = log)."""
    deg = spec.degree
    f = lambda p, X: general_forward(p, X, s.alpha, s.eps, deg)  # noqa: E731
    f0_tr = f(params0, data.X) if spec.centered else jnp.zeros(data.X.shape[0], data.X.dtype)
    f0_te = f(params0, data.X_test) if spec.centered else jnp.zeros(data.X_test.shape[0], data.X.dtype)
    N = params0["W"].shape[0]
    lr = s.eta0 * N / s.alpha**2
    decay = s.eta0 * s.wd

    def loss_fn(p):
        return _wmean((f(p, data.X) - f0_tr - data.y) ** 2, data.train_mask)

    def step(i, carry):
        p, v, bad = carry
        loss, g = jax.value_and_grad(loss_fn)(p)
        v_new = jax.tree.map(lambda gi, vi: gi + s.momentum * vi, g, v)
        p_new = jax.tree.map(lambda pi, vi: pi - lr * vi - decay * pi, p, v_new)
        now_bad = bad | ~jnp.isfinite(loss) | ~jnp.all(jnp.isfinite(p_new["W"]))
        keep = lambda a, b: jax.tree.map(lambda x, y: jnp.where(now_bad, x, y), a, b)  # noqa: E731
        return keep(p, p_new), keep(v, v_new), now_bad

    def observe(p):
        pred_tr = f(p, data.X) - f0_tr
        pred_te = f(p, data.X_test) - f0_te
        out = {"train_loss": _wmean((pred_tr - data.y) ** 2, data.train_mask),
               "test_loss": _wmean((pred_te - data.y_test) ** 2, data.test_mask),
               "weight_norm": jnp.sqrt(sum(jnp.sum(x**2) for x in jax.tree.leaves(p)))}
        if spec.log_params:
            out["params"] = p
        if spec.log_preds:
            out["pred_train"], out["pred_test"] = pred_tr, pred_te
        return out

    sched = spec.schedule()
    lengths = jnp.asarray(np.diff(sched, prepend=0), jnp.int32)
    starts = jnp.asarray(np.concatenate([[0], sched[:-1]]), jnp.int32)
    zeros = jax.tree.map(jnp.zeros_like, params0)

    def interval(carry, xs):
        start, length = xs
        carry = lax.fori_loop(start, start + length, step, carry)
        return carry, observe(carry[0])

    (_, _, bad), logged = lax.scan(interval, (params0, zeros, jnp.asarray(False)), (starts, lengths))
    logged["diverged"] = bad
    return logged


@functools.lru_cache(maxsize=32)
def compiled_general(spec: GeneralSpec, in_axes=(0, 0, 0)):
    """jit(vmap(general_simulate)) over (scalars, data, params0) with the given in_axes (None = shared)."""
    fn = functools.partial(general_simulate, spec)
    if all(axis is None for axis in in_axes):  # a single run
        return jax.jit(fn)
    return jax.jit(jax.vmap(fn, in_axes=in_axes))


def run_general(spec: GeneralSpec, scalars: GeneralScalars, data: GeneralData, params0: dict,
                in_axes=(0, 0, 0)) -> dict:
    """Run a batch of configurations (vmapped along ``in_axes``); returns numpy arrays."""
    out = compiled_general(spec, tuple(in_axes))(scalars, data, params0)
    return jax.tree.map(np.asarray, jax.device_get(out))


# ------------------------------------------------------------------------------------ task constructors
def centred_ntk_gram(X_all, params0, alpha, eps, degree: int = 2):
    """Initial NTK Gram K = J J^T (gradients w.r.t. W, includes alpha^2/N) over the rows of ``X_all``, minus its
    scalar mean (the authors' ``K -= mean(K)``). Exact for fixed readouts: K = (alpha/N)^2 (x.x') sum_k
    phi'(h_k) phi'(h_k')."""
    W = params0["W"]
    N = W.shape[0]
    dphi = 1.0 + 0.5 * eps * degree * (X_all @ W.T) ** (degree - 1)
    K = (alpha / N) ** 2 * (dphi @ dphi.T) * (X_all @ X_all.T)
    return K - jnp.mean(K)


def eigenvector_labels(X_all, params0, alpha, eps, ks):
    """Labels = k-th eigenvector (1-based, eigenvalues in descending order) of the centred initial NTK Gram.

    Returns (labels (len(ks), n), eigenvalues (n,) descending, the centred Gram (n, n)). Each label vector has
    unit norm over all n = 2P points; the first half is used for training, the second for testing.
    """
    K = centred_ntk_gram(X_all, params0, alpha, eps)
    lam, V = jnp.linalg.eigh(K)
    lam, V = lam[::-1], V[:, ::-1]
    idx = jnp.asarray([k - 1 for k in ks])
    return V[:, idx].T, lam, K


def aligned_interpolation_init(W_rand, beta, alpha, eps, lam):
    """W = lam W* + (1 - lam) W_rand for N = 2, with W* rows w_1 = +beta/sqrt(alpha eps), w_2 = -beta/sqrt(alpha
    eps) (a zero-loss solution: wbar* = 0 and alpha eps M* = beta beta^T)."""
    w = beta / jnp.sqrt(alpha * eps)
    W_star = jnp.stack([w, -w])
    return lam * W_star + (1.0 - lam) * W_rand
