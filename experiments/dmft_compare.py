"""``grokjax compare dmft``: DMFT theory against finite-D GD simulation (same conventions, same dt).

Runs the simulation (``experiments._dmft_sim``) at each ``D`` over ``--seeds`` seeds and the DMFT (finite-a,
``--dmft-seeds`` independent Monte-Carlo seeds; and/or the online a -> inf limit) with matched parameters,
then prints, per D and curve, ``max_t |DMFT - sim|`` beside the simulation's standard error (SEM) and the
DMFT's Monte-Carlo spread (standard error over its seeds).  The agreement criterion is pointwise:
``|DMFT - sim|(t) <= 2 SEM(t) + spread(t)`` for all t > 0 ("ratio" = max_t of the left over the right side).
Time axis: ``t = step * dt`` (one simulator GD step = dt; authors' code: ``dt = 2 eta0 N/(eta D)``).
Invalid input exits with code 2 naming the field, before any compute.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import warnings

import numpy as np

from dmft import ConfigError, ModelConfig, SolverConfig

CURVES = ("train", "test", "gap")


def _floats(text: str) -> tuple:
    return tuple(float(v) for v in text.split(",") if v.strip())


def _ints(text: str) -> tuple:
    return tuple(int(v) for v in text.split(",") if v.strip())


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="grokjax compare dmft", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    d = ModelConfig()
    for name in ("a", "alpha", "eps", "eta", "dt", "rho", "c0", "c1", "c2", "sigma"):
        ap.add_argument(f"--{name}", type=float, default=getattr(d, name))
    ap.add_argument("--N", type=int, default=d.N)
    ap.add_argument("--T", type=int, default=60, help="GD steps (default 60)")
    ap.add_argument("--m0", type=_floats, default=None, help="comma list (default linspace(1,-1,N)*0.2+0.05)")
    ap.add_argument("--uncentered", action="store_true", help="plain predictor f(W_t) instead of f(W_t)-f(W_0)")
    ap.add_argument("--D", type=_ints, default=(500,), help="comma list of input dimensions")
    ap.add_argument("--seeds", type=int, default=8, help="simulation seeds per D")
    ap.add_argument("--seed-batch", type=int, default=4, help="seeds vmapped together")
    ap.add_argument("--S", type=int, default=2000, help="DMFT Monte-Carlo samples")
    ap.add_argument("--dmft-seeds", type=int, default=2, help="independent DMFT Monte-Carlo seeds")
    ap.add_argument("--theory", choices=("finite", "online", "both"), default="finite")
    ap.add_argument("--out", default=None, help="write the labelled dataset (netCDF) here")
    ap.add_argument("--plot", default=None, help="write a PNG of the curves here")
    return ap


def config_from_args(args) -> tuple[ModelConfig, SolverConfig]:
    """Build and validate the configs; raises :class:`ConfigError` naming the field."""
    p = ModelConfig(N=args.N, a=args.a, alpha=args.alpha, eps=args.eps, eta=args.eta, dt=args.dt, T=args.T,
                    rho=args.rho, c0=args.c0, c1=args.c1, c2=args.c2, sigma=args.sigma, m0=args.m0,
                    centered=not args.uncentered)
    p.validate()
    sc = SolverConfig(S=args.S)
    sc.validate()
    if not args.D or min(args.D) < 1:
        raise ConfigError("D", f"input dimensions must be >= 1, got {args.D!r}")
    if args.seeds < 2:
        raise ConfigError("seeds", f"need >= 2 simulation seeds for a standard error, got {args.seeds}")
    if args.dmft_seeds < 1:
        raise ConfigError("dmft_seeds", f"must be >= 1, got {args.dmft_seeds}")
    if args.seed_batch < 1:
        raise ConfigError("seed_batch", f"must be >= 1, got {args.seed_batch}")
    return p, sc


def run_theory(p: ModelConfig, sc: SolverConfig, dmft_seeds: int, theory: str = "finite") -> dict:
    """DMFT curves: ``{"finite": [DMFTResult per seed], "online": DMFTResult}`` (as requested)."""
    from dmft import solve_dmft, solve_online

    out = {}
    if theory in ("finite", "both"):
        out["finite"] = [solve_dmft(p, dataclasses.replace(sc, seed=sc.seed + k)) for k in range(dmft_seeds)]
    if theory in ("online", "both"):
        out["online"] = solve_online(p)
    return out


def theory_curves(results) -> dict:
    """Mean and Monte-Carlo standard error (over DMFT seeds) of train, test, gap, m."""
    if not isinstance(results, list):
        results = [results]
    out = {}
    for name in CURVES + ("m",):
        stack = np.stack([getattr(r, name) for r in results])
        out[name] = stack.mean(0)
        out[name + "_spread"] = (stack.std(0, ddof=1) / np.sqrt(len(results)) if len(results) > 1
                                 else np.zeros_like(stack[0]))
    return out


def sim_curves(sim: dict) -> dict:
    out = {}
    n = sim["test"].shape[0]
    gap = sim["train"] - sim["test"]
    for name, arr in (("train", sim["train"]), ("test", sim["test"]), ("gap", gap), ("m", sim["m"])):
        out[name] = arr.mean(0)
        out[name + "_sem"] = arr.std(0, ddof=1) / np.sqrt(n)
        out[name + "_std"] = arr.std(0, ddof=1)
    return out


def agreement(theory: dict, sim: dict) -> dict:
    """Per curve: max |diff|, max SEM, max spread and the pointwise ratio |diff| / (2 SEM + spread), t > 0."""
    out = {}
    for name in CURVES:
        diff = np.abs(theory[name] - sim[name])[1:]
        sem = sim[name + "_sem"][1:]
        spread = theory.get(name + "_spread", np.zeros_like(theory[name]))[1:]
        band = 2 * sem + spread
        out[name] = dict(max_diff=float(diff.max()), max_sem=float(sem.max()), max_spread=float(spread.max()),
                         ratio=float(np.max(diff / np.maximum(band, 1e-12))),
                         holds=bool(np.all(diff <= band)))
    return out


def compare(p: ModelConfig, sc: SolverConfig, Ds, seeds: int, dmft_seeds: int = 2, theory: str = "finite",
            seed_batch: int = 4, quiet: bool = False) -> tuple:
    """Run theory and simulations; returns ``(theory_results, {D: sim dict}, {D: {kind: agreement}})``."""
    from experiments._dmft_sim import simulate

    t0 = time.time()
    th = run_theory(p, sc, dmft_seeds, theory)
    if not quiet:
        print(f"theory done in {time.time() - t0:.1f} s", flush=True)
    sims, stats = {}, {}
    for D in Ds:
        t0 = time.time()
        sims[D] = simulate(p, D, range(seeds), seed_batch=seed_batch)
        sc_ = sim_curves(sims[D])
        stats[D] = {kind: agreement(theory_curves(res), sc_) for kind, res in th.items()}
        if not quiet:
            print(f"simulation D={D} ({seeds} seeds, P={sims[D]['P']}) done in {time.time() - t0:.1f} s", flush=True)
    return th, sims, stats


def format_table(stats: dict) -> str:
    lines = [f"{'D':>6} {'theory':>7} {'curve':>6} {'max|diff|':>10} {'max SEM':>9} {'spread':>8} "
             f"{'ratio':>6} {'within 2SEM+spread':>18}"]
    for D, kinds in stats.items():
        for kind, curves in kinds.items():
            for name, s in curves.items():
                lines.append(f"{D:>6} {kind:>7} {name:>6} {s['max_diff']:>10.4f} {s['max_sem']:>9.4f} "
                             f"{s['max_spread']:>8.4f} {s['ratio']:>6.2f} {str(s['holds']):>18}")
    return "\n".join(lines)


def to_dataset(p: ModelConfig, th: dict, sims: dict):
    """Labelled dataset: simulation curves with dims ``(D, seed, t)``, theory with ``(dmft_seed, t)``."""
    import xarray as xr

    time_axis = np.arange(p.T + 1) * p.dt
    Ds = list(sims)
    data = {}
    for name in ("train", "test"):
        data[f"sim_{name}"] = (("D", "seed", "t"), np.stack([sims[D][name] for D in Ds]))
    data["sim_m"] = (("D", "seed", "t", "unit"), np.stack([sims[D]["m"] for D in Ds]))
    if "finite" in th:
        for name in ("train", "test", "m"):
            dims = ("dmft_seed", "t") + (("unit",) if name == "m" else ())
            data[f"dmft_{name}"] = (dims, np.stack([getattr(r, name) for r in th["finite"]]))
    if "online" in th:
        data["online_test"] = ("t", th["online"].test)
        data["online_m"] = (("t", "unit"), th["online"].m)
    coords = {"t": time_axis, "step": ("t", np.arange(p.T + 1)), "D": Ds}
    return xr.Dataset(data, coords=coords)


def plot(p: ModelConfig, th: dict, sims: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    t = np.arange(p.T + 1) * p.dt
    for i, D in enumerate(sims):
        sc_ = sim_curves(sims[D])
        for ax, name in zip(axes, CURVES):
            ax.errorbar(t, sc_[name], yerr=sc_[name + "_sem"], fmt="o", ms=2, alpha=0.6, label=f"sim D={D}")
    for kind, res in th.items():
        cur = theory_curves(res)
        for ax, name in zip(axes, CURVES):
            ax.plot(t, cur[name], "-" if kind == "finite" else "--", color="k", lw=1.2, label=f"DMFT ({kind})")
    for ax, name in zip(axes, CURVES):
        ax.set_title(name)
        ax.set_xlabel("t = step * dt")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        p, sc = config_from_args(args)
    except ConfigError as exc:
        print(f"grokjax: error: {exc}", file=sys.stderr)
        return 2
    th, sims, stats = compare(p, sc, args.D, args.seeds, args.dmft_seeds, args.theory, args.seed_batch)
    print(format_table(stats))
    if args.out:
        from grokjax.store import save_dataset

        save_dataset(to_dataset(p, th, sims), args.out, config=dict(model=p, solver=sc, D=list(args.D),
                                                                     seeds=args.seeds, dmft_seeds=args.dmft_seeds))
        print(f"saved {args.out}")
    if args.plot:
        plot(p, th, sims, args.plot)
        print(f"saved {args.plot}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    with warnings.catch_warnings():
        sys.exit(main(sys.argv[1:]))
