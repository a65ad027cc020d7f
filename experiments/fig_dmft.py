"""Figure 4 (DMFT): theory vs finite-D GD for the centred committee machine, three parameter sets.

Each set is solved by the finite-P/D DMFT (``dmft.solve_dmft``, several Monte-Carlo seeds), its online
(a -> inf) limit and the first-order 1/a gap, and compared with GD simulations (``experiments._dmft_sim``)
averaged over seeds.  Time axis ``t = step * dt`` (one simulator GD step = dt).
"""
from __future__ import annotations

import dataclasses
import time
import warnings
from pathlib import Path

import numpy as np

from dmft import ModelConfig, SolverConfig, first_order_gap
from experiments import ClaimCheck, save_figure
from experiments.dmft_compare import compare, sim_curves, theory_curves

FIGURES = {"fig4": "DMFT vs simulation: train/test loss and train-test gap of the committee machine (3 sets)"}

# Set A is the spec's validated set; B (a = 4) memorises more and has a large test-loss bump; C is less lazy.
SETS = {
    "A": ModelConfig(N=4, a=8.0, alpha=2.0, eps=0.5, eta=4.0, dt=0.25),
    "B": ModelConfig(N=4, a=4.0, alpha=2.0, eps=0.5, eta=4.0, dt=0.25),
    "C": ModelConfig(N=4, a=6.0, alpha=1.0, eps=0.5, eta=4.0, dt=0.25),
}

# (T, D, simulation seeds, S, DMFT seeds, jac dtype)
SIZE_PARAMS = {
    "tiny": (16, 200, 4, 500, 2, "float64"),
    "small": (40, 1000, 8, 4000, 2, "float64"),
    "paper": (120, 2000, 16, 4000, 4, "float32"),
}

CLAIM = ("finite-P/D DMFT reproduces GD's train and test loss curves and their gap (memorisation), which the "
         "online theory misses; |DMFT - sim| <= 2 SEM + DMFT MC spread at every t")


def run(size: str, quiet: bool = False) -> dict:
    T, D, seeds, S, dmft_seeds, jdtype = SIZE_PARAMS[size]
    out = {}
    for name, base in SETS.items():
        p = dataclasses.replace(base, T=T)
        t0 = time.time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            th, sims, stats = compare(p, SolverConfig(S=S, jac_dtype=jdtype), [D], seeds, dmft_seeds, "both",
                                      seed_batch=4 if D <= 1000 else 2, quiet=True)
            _, gap1 = first_order_gap(p)
        out[name] = dict(p=p, th=th, sim=sims[D], stats=stats[D], gap1=gap1)
        if not quiet:
            print(f"[fig4] set {name}: {time.time() - t0:.1f} s", flush=True)
    return out


def _dataset(results: dict, size: str):
    import xarray as xr

    names = list(results)
    first = results[names[0]]
    T, D = first["p"].T, first["sim"]["D"]
    stack = lambda f: np.stack([f(results[n]) for n in names])
    data = {
        "sim_train": (("set", "seed", "t"), stack(lambda r: r["sim"]["train"])),
        "sim_test": (("set", "seed", "t"), stack(lambda r: r["sim"]["test"])),
        "sim_m": (("set", "seed", "t", "unit"), stack(lambda r: r["sim"]["m"])),
        "dmft_train": (("set", "dmft_seed", "t"), stack(lambda r: np.stack([x.train for x in r["th"]["finite"]]))),
        "dmft_test": (("set", "dmft_seed", "t"), stack(lambda r: np.stack([x.test for x in r["th"]["finite"]]))),
        "dmft_m": (("set", "dmft_seed", "t", "unit"), stack(lambda r: np.stack([x.m for x in r["th"]["finite"]]))),
        "online_test": (("set", "t"), stack(lambda r: r["th"]["online"].test)),
        "first_order_gap": (("set", "t"), stack(lambda r: r["gap1"])),
    }
    for param in ("a", "alpha", "eps", "eta", "dt", "N"):
        data[param] = ("set", np.array([getattr(results[n]["p"], param) for n in names]))
    coords = {"set": names, "t": np.arange(T + 1) * first["p"].dt, "step": ("t", np.arange(T + 1))}
    return xr.Dataset(data, coords=coords, attrs={"D": int(D), "size": size})


def _plot(results: dict):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(4.2 * len(results), 6.4), squeeze=False)
    for j, (name, r) in enumerate(results.items()):
        p = r["p"]
        t = np.arange(p.T + 1) * p.dt
        sim, th = sim_curves(r["sim"]), theory_curves(r["th"]["finite"])
        ax = axes[0, j]
        for curve, color in (("train", "C0"), ("test", "C3")):
            ax.errorbar(t, sim[curve], yerr=sim[curve + "_sem"], fmt="o", ms=2.5, color=color, alpha=0.5,
                        label=f"GD {curve} (D={r['sim']['D']})")
            ax.plot(t, th[curve], color=color, lw=1.5, label=f"DMFT {curve}")
        ax.plot(t, r["th"]["online"].test, "k--", lw=1, label="online (a→∞)")
        ax.set_title(f"set {name}: a={p.a:g}, α={p.alpha:g}, ε={p.eps:g}, η={p.eta:g}")
        ax.set_xlabel("t = step·dt")
        ax.set_ylabel("MSE")
        ax = axes[1, j]
        ax.errorbar(t, sim["gap"], yerr=sim["gap_sem"], fmt="o", ms=2.5, color="C2", alpha=0.5, label="GD")
        ax.plot(t, th["gap"], color="C2", lw=1.5, label="DMFT")
        ax.plot(t, r["gap1"], "k:", lw=1.2, label="first order 1/a")
        ax.axhline(0, color="gray", lw=0.5)
        ax.set_xlabel("t = step·dt")
        ax.set_ylabel("train − test")
    axes[0, 0].legend(fontsize=7)
    axes[1, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def make_figure(name: str, size: str, out_dir, quiet: bool = False) -> ClaimCheck:
    if name not in FIGURES:
        raise KeyError(name)
    from grokjax.store import save_dataset

    out_dir = Path(out_dir)
    results = run(size, quiet=quiet)
    fig = _plot(results)
    save_figure(fig, out_dir, name)
    T, D, seeds, S, dmft_seeds, jdtype = SIZE_PARAMS[size]
    save_dataset(_dataset(results, size), out_dir / "data" / f"{name}.nc",
                 config=dict(sets={k: r["p"] for k, r in results.items()}, D=D, seeds=seeds, S=S,
                             dmft_seeds=dmft_seeds, jac_dtype=jdtype, size=size))
    numbers, holds = {}, True
    for set_name, r in results.items():
        fin, onl = r["stats"]["finite"], r["stats"]["online"]
        for curve in ("train", "test", "gap"):
            numbers[f"{set_name}_{curve}_maxdiff"] = fin[curve]["max_diff"]
            numbers[f"{set_name}_{curve}_ratio"] = fin[curve]["ratio"]
            holds &= fin[curve]["holds"]
        numbers[f"{set_name}_online_gap_maxdiff"] = onl["gap"]["max_diff"]
        holds &= not onl["gap"]["holds"]
    details = (f"D={D}, {seeds} GD seeds, DMFT S={S} x {dmft_seeds} seeds, T={T} steps of dt; ratio = "
               "max_t |DMFT-sim| / (2 SEM + spread) (<= 1 required); online gap must be rejected")
    return ClaimCheck(figure=name, claim=CLAIM, holds=bool(holds), numbers=numbers, details=details)
