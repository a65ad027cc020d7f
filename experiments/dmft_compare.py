"""``grokjax compare dmft``: DMFT theory against finite-D GD simulation (same conventions, same dt).

Runs the simulation (``experiments._dmft_sim``) at each ``D`` over ``--seeds`` seeds and the DMFT (finite-a,
``--dmft-seeds`` independent Monte-Carlo seeds; and/or the online a -> inf limit) with matched parameters,
then prints, per D and curve, ``max_t |DMFT - sim|`` beside the simulation's standard error (SEM) and the
DMFT's Monte-Carlo spread (standard error over its seeds).  The verdict is a simultaneous 95 % band over t
(:func:`dmft.agreement`: ``max_t |DMFT - sim| / se_t`` against its bootstrap-t null quantile); the pointwise rule
``|DMFT - sim|(t) <= 2 SEM(t) + spread(t)`` at every t > 0 is printed beside it ("2SEM ratio").
Time axis: ``t = step * dt`` (one simulator GD step = dt; authors' code: ``dt = 2 eta0 N/(eta D)``).
Invalid input exits with code 2 naming the field, before any compute.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np

from grokjax import add_config_arguments, config_from_arguments, param, validate_fields
from dmft import (CURVES, ConfigError, ModelConfig, SolverConfig, agreement, agreement_table, agreement_verdict,  # noqa: F401
                  seed_arrays, sim_curves, solve_seeds, state_gb, theory_curves)


MAX_SEED = 2**31 - 1  # the simulators' and the DMFT's seeds are int32


@dataclass(frozen=True)
class CompareOptions:
    """``compare dmft``'s own options (the model and solver flags are :class:`dmft.ModelConfig` /
    :class:`dmft.SolverConfig` fields), declared once: flags, Python constructor and errors come from here."""

    D: tuple[int, ...] = param((500,), "input dimensions", check="[1,1000000]", distinct=True)
    seeds: tuple[int, ...] = param(tuple(range(8)), "simulation seeds (at least 2 for a standard error)",
                                   check=f"[0,{MAX_SEED}]", distinct=True)
    seed_batch: int = param(4, "seeds vmapped together", check=">=1")
    sim: str = param("library", "library: grokjax.simulate_from; side: the independent DMFT-convention simulator "
                     "(supports c1 and sigma)", choices=("library", "side"))
    theory: str = param("finite", "finite-P/D DMFT, its online a->inf limit, or both",
                        choices=("finite", "online", "both"))
    dmft_seeds: tuple[int, ...] = param((0, 1), "independent Monte-Carlo seeds of the DMFT", check=f"[0,{MAX_SEED}]",
                                        distinct=True)
    out: Optional[str] = param(None, "write the labelled dataset (netCDF) here", check="path")
    plot: Optional[str] = param(None, "write a PNG of the curves here", check="path")
    overwrite: bool = param(False, "replace existing --out/--plot files")

    def __post_init__(self):
        validate_fields(self)
        if len(self.seeds) < 2:
            raise ConfigError("seeds", f"need >= 2 simulation seeds for a standard error, got {list(self.seeds)}")


#: compare dmft's flags that are dmft.ModelConfig / dmft.SolverConfig fields (flags generated from their
#: declarations), and the defaults it gives them (shorter runs than the dataclasses')
MODEL_FLAGS = ("N", "a", "alpha", "eps", "eta", "dt", "T", "rho", "c0", "c1", "c2", "sigma", "m0")
SOLVER_FLAGS = ("S", "method", "responses", "window", "block", "noise", "jac_dtype", "chunk", "damping", "max_iter",
                "memory_gb")
COMPARE_DEFAULTS = {"T": 60, "S": 2000}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="grokjax compare dmft", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    model = ap.add_argument_group("model (spec dmft.md §0.1; dmft.ModelConfig fields)")
    add_config_arguments(model, ModelConfig, config_file=False, only=MODEL_FLAGS, defaults=COMPARE_DEFAULTS)
    model.add_argument("--uncentered", action="store_true", help="plain predictor f(W_t) instead of f(W_t)-f(W_0)")
    add_config_arguments(ap, CompareOptions, config_file=False)  # simulation, seeds and output
    th = ap.add_argument_group("DMFT solver (dmft.SolverConfig fields)")
    add_config_arguments(th, SolverConfig, config_file=False, only=SOLVER_FLAGS, defaults=COMPARE_DEFAULTS)
    for action in th._group_actions:
        if action.dest == "responses":  # its default follows --method
            action.help = "response estimator; one of blocked, pathwise (default: blocked for march, pathwise for " \
                          "picard, the only one it has)"
    return ap


#: the PolyConfig field of --sim library -> the compare dmft flag that sets it
_LIBRARY_FLAGS = {"steps": "T", "n_log": "T", "P": "D", "eta0": "dt"}


def config_from_args(args) -> tuple[ModelConfig, SolverConfig]:
    """Build and validate the configs and run sizes; raises :class:`ConfigError` naming the field. ``args`` gets
    the checked :class:`CompareOptions` as ``args.options``."""
    options = args.options = config_from_arguments(CompareOptions, args)
    given = {name: getattr(args, name) for name in MODEL_FLAGS if getattr(args, name, None) is not None}
    p = ModelConfig(**{**given, "m0": tuple(given["m0"]) if "m0" in given else None}, centered=not args.uncentered)
    p.validate()
    if options.theory != "finite":
        p.validate(online=True)  # the online solution's memory too, before compute
    solver = {name: getattr(args, name) for name in SOLVER_FLAGS if getattr(args, name, None) is not None}
    solver.setdefault("responses", "pathwise" if solver.get("method") == "picard" else "blocked")
    sc = SolverConfig(**solver, seed=options.dmft_seeds[0])
    sc.validate()
    for D in options.D:  # both simulators train on P = round(a D) points
        if round(p.a * D) < 1:
            raise ConfigError("D", f"P = round(a D) = 0 training points at D={D}, a={p.a:g}: raise --D or --a")
    if options.sim == "library":
        from experiments._dmft_sim import library_config

        for D in options.D:  # refuses c1 / sigma; a PolyConfig field it refuses is named by the flag that set it
            try:
                library_config(p, D)
            except ConfigError as exc:
                if exc.field in ("c1", "sigma"):
                    raise
                flag = _LIBRARY_FLAGS.get(exc.field, exc.field)
                raise ConfigError(flag, f"--sim library runs grokjax's simulator at D={D}, which refuses it "
                                  f"({exc})") from None
    if options.theory != "online" and state_gb(p, sc) > sc.memory_gb:
        raise ConfigError("S", f"the DMFT needs ~{state_gb(p, sc):.2f} GB of per-sample state, more than "
                               f"--memory-gb {sc.memory_gb:g}")
    batch = min(options.seed_batch, len(options.seeds))
    sim_gb = max(options.D) ** 2 * p.a * 4 * batch * 3 / 1e9
    if sim_gb > sc.memory_gb:
        raise ConfigError("D", f"a batch of {batch} simulations at D={max(options.D)} "
                               f"needs ~{sim_gb:.2f} GB, more than --memory-gb {sc.memory_gb:g} (lower --seed-batch)")
    from grokjax import check_distinct

    check_distinct({"out": options.out, "plot": options.plot})  # --plot r.nc would overwrite the dataset --out r.nc
    for flag, path in (("out", options.out), ("plot", options.plot)):
        if path:
            from grokjax.store import check_writable

            check_writable(path, flag, overwrite=options.overwrite)
    return p, sc


def _seed_list(seeds) -> list[int]:
    return list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]


def compare(p: ModelConfig, sc: SolverConfig, Ds, seeds, dmft_seeds=2, theory: str = "finite",
            seed_batch: int = 4, quiet: bool = False, sim: str = "library") -> tuple:
    """Run theory and simulations; returns ``(theory_results, {D: sim dict}, {D: {kind: agreement}})``.

    ``sim="library"`` runs :func:`grokjax.simulate_from` (exact-overlap initialisations), ``"side"`` the
    independent DMFT-convention simulator; both see identical draws.  ``seeds``: a list, or a count.
    """
    from experiments._dmft_sim import simulate_side, simulate_library

    t0 = time.time()
    if not quiet:
        print(f"DMFT ({theory}, S={sc.S}, responses={sc.responses}, T={p.T}) ...", flush=True)
    th = solve_seeds(p, sc, dmft_seeds, theory, quiet=quiet)
    if not quiet:
        print(f"theory done in {time.time() - t0:.1f} s", flush=True)
    sims, stats = {}, {}
    runner = simulate_library if sim == "library" else simulate_side
    for D in Ds:
        t0 = time.time()
        sims[D] = runner(p, D, _seed_list(seeds), seed_batch=seed_batch)
        stats[D] = {kind: agreement(seed_arrays(res), seed_arrays(sims[D])) for kind, res in th.items()}
        if not quiet:
            print(f"simulation D={D} ({len(_seed_list(seeds))} seeds, P={sims[D]['P']}, {sim}) done in "
                  f"{time.time() - t0:.1f} s", flush=True)
    return th, sims, stats


def to_dataset(p: ModelConfig, th: dict, sims: dict):
    """Labelled dataset: simulation curves with dims ``(D, seed, t)``, theory with ``(dmft_seed, t)``."""
    import xarray as xr

    time_axis = np.arange(p.T + 1) * p.dt
    Ds = list(sims)
    data = {}
    for name in ("train", "test"):
        data[f"sim_{name}"] = (("D", "seed", "t"), np.stack([sims[D][name] for D in Ds]))
    if all("m" in sims[D] for D in Ds):
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
    from grokjax import ConfigError as InputError

    try:
        p, sc = config_from_args(args)
    except (ConfigError, InputError) as exc:
        print(f"grokjax: error: {exc}", file=sys.stderr)
        return 2
    from grokjax.store import output_lock, save_dataset

    o = args.options  # the checked CompareOptions
    try:  # the output's lock is held from before the compute until the file is saved (as in `grokjax run`)
        with output_lock(o.out) if o.out else contextlib.nullcontext():
            with warnings.catch_warnings():
                warnings.simplefilter("once")
                th, sims, stats = compare(p, sc, list(o.D), list(o.seeds), list(o.dmft_seeds), o.theory,
                                          o.seed_batch, sim=o.sim)
            print(agreement_table(stats))
            print(agreement_verdict(stats)[1])
            if o.out:
                run = dict(D=list(o.D), seeds=list(o.seeds), dmft_seeds=list(o.dmft_seeds), sim=o.sim)
                path = save_dataset(to_dataset(p, th, sims), o.out, overwrite=o.overwrite,
                                    config=dict(model=p, solver=sc, run=run))
                print(f"wrote {path}")
    except InputError as exc:
        print(f"grokjax: error: {exc}", file=sys.stderr)
        return 2
    if o.plot:
        plot(p, th, sims, o.plot)
        print(f"wrote {o.plot}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    with warnings.catch_warnings():
        sys.exit(main(sys.argv[1:]))
