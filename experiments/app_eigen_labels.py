"""Appendix studies with NTK-eigenvector labels (App 8.4, App 18): the label is the k-th eigenvector of the
initial NTK Gram; immediate / grokking / never by the regime rule of ``experiments._appendix``.
Sizes, conventions and the regime rule: ``experiments._appendix``.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from experiments._appendix import REGIMES, classify, study_dataset, test_at_train_half
from experiments._figure import ClaimCheck, protocol
from experiments._plotting import colors, loss_curves, panel_grid
from grokjax import (PolyConfig, eigenvector_labels, kernel_alignment, labelled_data, logged_steps, ntk_closed_form,
                     simulate_weights, sufficient_stats)

FIGURES = {
    "app8.4": "labels = k-th eigenvector of the initial NTK Gram: alignment per k; immediate/grokking/never",
    "app18": "(k, P) grid of NTK-eigenvector-label tasks: more data rescues harder (larger k) tasks",
}


# ------------------------------------------------------------------------------ eigenvector-label tasks
_EIG = {  # Conv. B (internally x ~ N(0, I/D)), N = 2, alpha = 1, eps = 0.25, eta = 0.5 N / alpha^2, centred
    "paper": dict(D=100, N=2, P=100, steps=25_000, n_log=80, ks=(1, 5, 70, 75, 100, 150)),
    "small": dict(D=100, N=2, P=100, steps=25_000, n_log=60, ks=(1, 5, 70, 75, 100, 150)),
    "tiny": dict(D=12, N=2, P=16, steps=300, n_log=12, ks=(1, 10, 30)),
}
_GRID = {  # App 18: P and k are UNKNOWN in the spec; our choice
    "paper": dict(D=100, N=2, Ps=(50, 100, 200, 400), ks=(1, 10, 50, 75, 100), steps=25_000, n_log=60),
    "small": dict(D=100, N=2, Ps=(50, 100, 200), ks=(1, 10, 50, 75, 100), steps=25_000, n_log=50),
    "tiny": dict(D=12, N=2, Ps=(8, 16), ks=(1, 4, 12), steps=300, n_log=12),
}


def eigen_task(key, D, N, P, alpha, eps, ks, pool=None):
    """Data for eigenvector labels: 2P inputs (train = first P, test = last P), labels = eigenvectors k of the
    centred initial NTK Gram over all 2P points. Returns (X_all, labels (len(ks), 2P), eigenvalues, K, params0).
    """
    k_x, k_w = jax.random.split(key)
    X_all = (jax.random.normal(k_x, (2 * P, D)) / jnp.sqrt(D)) if pool is None else pool[: 2 * P]
    params0 = {"W": jax.random.normal(k_w, (N, D))}
    labels, lam, K = eigenvector_labels(X_all, params0, alpha, eps, ks)
    return X_all, labels, lam, K, params0


def _run_app8_4(name, size, quiet):
    sp = _EIG[size]
    D, N, P, ks = sp["D"], sp["N"], sp["P"], sp["ks"]
    alpha, eps, eta0 = 1.0, 0.25, 0.5
    X_all, Y, lam, K, params0 = eigen_task(jax.random.PRNGKey(0), D, N, P, alpha, eps, ks)
    # alignment (paper-code CKA) of the initial NTK on the test half with every eigenvector label
    stats0 = sufficient_stats(params0)
    K_test = ntk_closed_form(X_all[P:], X_all[P:], stats0, alpha, eps, N)
    _, V = jnp.linalg.eigh(K)
    V = V[:, ::-1]
    all_k = np.arange(1, 2 * P + 1)
    align_all = np.asarray(jax.vmap(lambda v: kernel_alignment(K_test, v[P:]))(V.T))
    cfg = PolyConfig(D=D, N=N, P=P, P_test=P, alpha=alpha, eps=eps, eta0=eta0, steps=sp["steps"], n_log=sp["n_log"],
                     convention="B", lazy=False, kernel_regression=False, n_align=0)
    run = jax.jit(jax.vmap(lambda y, yt: simulate_weights(cfg, labelled_data(X_all[:P], y, X_all[P:], yt), params0)))
    out = jax.tree.map(np.asarray, run(Y[:, :P], Y[:, P:]))
    steps = logged_steps(cfg)
    train, test = out["train_loss"], out["test_loss"]
    regimes = [classify(steps, a, b) for a, b in zip(train, test)]
    ds = xr.Dataset({"train_loss": (("k", "step"), train), "test_loss": (("k", "step"), test),
                     "eigenvalue": (("k",), np.asarray(lam)[np.asarray(ks) - 1]),
                     "alignment": (("k",), align_all[np.asarray(ks) - 1]),
                     "alignment_all": (("k_all",), align_all), "eigenvalue_all": (("k_all",), np.asarray(lam)),
                     "regime": (("k",), np.asarray(regimes))},
                    coords={"k": list(ks), "step": steps, "k_all": all_k})
    return study_dataset(ds, size, cfg, D=D, N=N, P=P, alpha=alpha, eps=eps, eta0=eta0, convention="B")


def _plot_app8_4(name, ds):
    a = ds.attrs
    ks = [int(k) for k in ds["k"].values]
    nk = len(ks)
    steps = ds["step"].values
    align_all = ds["alignment_all"].values
    ncol = (nk + 2) // 2
    fig, grid = panel_grid(2, ncol)
    fig.set_size_inches(3.2 * ncol, 6.0)
    axes = grid[0] + grid[1]
    for extra in axes[nk + 1:]:
        extra.set_visible(False)
    ax = axes[0]
    ax.plot(ds["k_all"].values, align_all, ".", ms=3, color="grey")
    for k, c in zip(ks, colors(nk)):
        ax.plot([k], [align_all[k - 1]], "o", color=c)
    ax.set_xlabel("eigenvector index k")
    ax.set_ylabel("initial NTK alignment (CKA, test half)")
    ax.set_title(f"D={a['D']}, N={a['N']}, P={a['P']}, eps={a['eps']}")
    for ax, k, c, tr, te, reg in zip(axes[1:], ks, colors(nk), ds["train_loss"].values, ds["test_loss"].values,
                                     ds["regime"].values):
        loss_curves(ax, steps, tr, te, color=c)
        ax.set_yscale("log")
        ax.set_title(f"k={k}: {reg}", fontsize=9)
    axes[1].set_ylabel("MSE")
    return fig


def _judge_app8_4(name, ds):
    ks = [int(k) for k in ds["k"].values]
    regimes = [str(r) for r in ds["regime"].values]
    train, test = ds["train_loss"].values, ds["test_loss"].values
    order = [REGIMES.index(r) for r in regimes]
    monotone = all(a <= b for a, b in zip(order, order[1:]))
    holds = bool(monotone and set(regimes) == set(REGIMES))
    numbers = {"k": ks, "regime": regimes, "alignment": [float(v) for v in ds["alignment"].values],
               "test/test0 when train halves": [round(test_at_train_half(a, b), 3) for a, b in zip(train, test)],
               "final test/test0": [round(float(b[-1] / b[0]), 3) for b in test]}
    return ClaimCheck("app8.4", "small k (aligned with the initial NTK) generalise immediately, intermediate k "
                      "grok, large k never generalise; alignment falls with k", holds, numbers,
                      "regimes as in the module docstring; Conv. B, alpha=1, eps=0.25, eta0=0.5, centred, "
                      "eigenvectors of the scalar-mean-centred Gram over 2P points (train first P, test last P)")


def _run_app18(name, size, quiet):
    sp = _GRID[size]
    D, N, Ps, ks = sp["D"], sp["N"], sp["Ps"], sp["ks"]
    alpha, eps, eta0 = 1.0, 0.25, 0.5
    Pmax = max(Ps)
    k_x, k_w = jax.random.split(jax.random.PRNGKey(0))
    pool = jax.random.normal(k_x, (2 * Pmax, D)) / jnp.sqrt(D)
    params0 = {"W": jax.random.normal(k_w, (N, D))}
    cols = {n: [] for n in ("X", "y", "Xt", "yt", "m")}

    def pad(a):
        return jnp.concatenate([a, jnp.zeros((Pmax - a.shape[0],) + a.shape[1:], a.dtype)])

    valid = np.zeros((len(Ps), len(ks)), bool)
    for i, P in enumerate(Ps):
        X_all = pool[: 2 * P]
        kk = [min(k, 2 * P) for k in ks]
        Y, _, _ = eigenvector_labels(X_all, params0, alpha, eps, kk)
        for j, k in enumerate(ks):
            valid[i, j] = k <= 2 * P
            cols["X"].append(pad(X_all[:P]))
            cols["Xt"].append(pad(X_all[P:]))
            cols["y"].append(pad(Y[j, :P]))
            cols["yt"].append(pad(Y[j, P:]))
            cols["m"].append(pad(jnp.ones(P)))
    cfg = PolyConfig(D=D, N=N, P=Pmax, P_test=Pmax, alpha=alpha, eps=eps, eta0=eta0, steps=sp["steps"],
                     n_log=sp["n_log"], convention="B", lazy=False, kernel_regression=False, n_align=0)
    run = jax.jit(jax.vmap(lambda X, y, Xt, yt, m: simulate_weights(cfg, labelled_data(X, y, Xt, yt), params0,
                                                                    train_weight=m, test_weight=m)))
    out = jax.tree.map(np.asarray, run(*(jnp.stack(cols[n]) for n in ("X", "y", "Xt", "yt", "m"))))
    steps = logged_steps(cfg)
    shape = (len(Ps), len(ks), len(steps))
    train, test = out["train_loss"].reshape(shape), out["test_loss"].reshape(shape)
    regimes = np.array([[classify(steps, train[i, j], test[i, j]) if valid[i, j] else "n/a"
                         for j in range(len(ks))] for i in range(len(Ps))])
    ds = xr.Dataset({"train_loss": (("P", "k", "step"), train), "test_loss": (("P", "k", "step"), test),
                     "regime": (("P", "k"), regimes)}, coords={"P": list(Ps), "k": list(ks), "step": steps})
    return study_dataset(ds, size, cfg, D=D, N=N, alpha=alpha, eps=eps, eta0=eta0, convention="B",
          choices="P and k grids are our choice (UNKNOWN in the spec)")


def _plot_app18(name, ds):
    Ps, ks = [int(P) for P in ds["P"].values], [int(k) for k in ds["k"].values]
    steps = ds["step"].values
    fig, axes = panel_grid(len(Ps), len(ks))
    for i, P in enumerate(Ps):
        for j, k in enumerate(ks):
            ax = axes[i][j]
            regime = str(ds["regime"].values[i, j])
            if regime != "n/a":  # k <= 2P
                c = {"immediate": "C2", "grokking": "C1", "never": "C3"}[regime]
                loss_curves(ax, steps, ds["train_loss"].values[i, j], ds["test_loss"].values[i, j], color=c, lw=1.2)
                ax.set_yscale("log")
            ax.set_title(f"P={P}, k={k}: {regime}", fontsize=7)
            ax.tick_params(labelsize=6)
            ax.set_xlabel("")
    return fig


def _judge_app18(name, ds):
    Ps, ks = [int(P) for P in ds["P"].values], [int(k) for k in ds["k"].values]
    regimes = np.array([[str(r) for r in row] for row in ds["regime"].values])
    idx = np.vectorize(lambda r: REGIMES.index(r) if r in REGIMES else -1)(regimes)
    row_ok = all(all(a <= b for a, b in zip(r[r >= 0], r[r >= 0][1:])) for r in idx)
    col_ok = all(all(a >= b for a, b in zip(c[c >= 0], c[c >= 0][1:])) for c in idx.T)
    rescued = [int(ks[j]) for j in range(len(ks)) if idx[0, j] == 2 and np.any(idx[1:, j] == 0)]
    grok_cells = [(int(Ps[i]), int(ks[j])) for i in range(len(Ps)) for j in range(len(ks)) if idx[i, j] == 1]
    holds = bool(row_ok and col_ok and len(grok_cells) > 0 and len(rescued) > 0)
    numbers = {"P": Ps, "k": ks, "regimes (rows P)": ["/".join(r[:1] for r in row) for row in regimes],
               "grokking cells (P,k)": grok_cells, "k rescued by more data": rescued,
               "fixed P: worse with k": row_ok, "fixed k: better with P": col_ok}
    return ClaimCheck("app18", "for fixed P, larger k fails; for fixed k, more data brings generalisation, with "
                      "grokking in a middle band of P", holds, numbers,
                      "regimes i/g/n = immediate/grokking/never (module docstring); D=100 Conv. B, N=2, alpha=1, "
                      "eps=0.25, eta0=0.5, centred; the P and k values are our choice (UNKNOWN in the spec)")


# ------------------------------------------------------------------------------ protocol
#: figure -> (run, judge, plot): the protocol of experiments/__init__.py
DATASET_FIGURES = {
    "app8.4": (_run_app8_4, _judge_app8_4, _plot_app8_4),
    "app18": (_run_app18, _judge_app18, _plot_app18),
}
run, judge, plot = protocol(DATASET_FIGURES, "appendix")
