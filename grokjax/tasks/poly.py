"""Polynomial regression with the two-layer committee machine (the paper's toy model).

``grokjax run poly --alpha 0.5 1 2 --eps 0.02 --seeds 0 1 ...``: every field of grokjax.PolyConfig is
a flag; the swept scalars (alpha, eps, eta0, init_scale, momentum, weight_decay) take several values and are
combined as a product (``--mode zip`` pairs them element-wise); all configurations run in one compiled,
vmapped program. Step size eta = eta0 N / alpha^2 on the plain MSE (no 1/2); centred predictor f - f0.
"""
from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from grokjax._config import SWEEPABLE, PolyConfig, check_seeds, param, validate_fields
from grokjax._errors import require

if TYPE_CHECKING:  # annotations only; xarray is imported where results are built
    import xarray as xr


_option = param  # the sweep's options are declared like PolyConfig's fields (type, range, allowed values)

#: Options of the sweep itself (not parameters of one run).
_SWEEP_OPTIONS = [
    ("seeds", tuple[int, ...], _option((0,), "seeds (several values: one run each)", check="seed")),
    ("mode", str, _option("product", "how swept values combine: product (grid) or zip (element-wise)",
                          choices=("product", "zip"))),
    ("threshold", float, _option(0.1, "loss threshold of the printed grokking delay", check=">0")),
    ("checkpoint_dir", str, _option("", "folder for finished chunks: re-running the same command resumes")),
    ("chunk_size", int, _option(0, "configurations per compiled chunk (0 = as many as fit in memory)", check=">=0")),
    ("memory_limit_gb", float, _option(0.0, "per-device memory budget in GiB (0 = detect)", check=">=0")),
    ("distributed", bool, _option(False, "join a multi-host run (jax.distributed; Slurm / Open MPI detected)")),
    ("coordinator_address", str, _option("", "host:port of process 0 (explicit multi-host launch)")),
    ("num_processes", int, _option(0, "number of processes of an explicit multi-host launch (0 = auto)",
                                   check=">=0")),
    ("process_id", int, _option(-1, "this process's index in an explicit multi-host launch (-1 = auto)",
                                check=">=-1")),
]


def _cli_field(f: dataclasses.Field):
    """A PolyConfig field as a CLI field: swept fields take a list of values (default: the one default)."""
    if f.metadata["sweep"]:
        return (f.name, tuple[float, ...], dataclasses.field(default=(f.default,), metadata=f.metadata))
    return (f.name, f.type, dataclasses.field(default=f.default, metadata=f.metadata))


def _base(self) -> PolyConfig:
    values = {f.name: getattr(self, f.name) for f in dataclasses.fields(PolyConfig) if f.name != "seed"}
    values.update({k: getattr(self, k)[0] for k in SWEEPABLE})
    return PolyConfig(**values)


def _sweep(self) -> dict[str, tuple[float, ...]]:
    return {k: getattr(self, k) for k in SWEEPABLE if len(getattr(self, k)) > 1}


def _validate(self) -> "Config":
    require(self.mode in ("product", "zip"), "mode", "must be 'product' or 'zip'")
    check_seeds(list(self.seeds))
    require(math.isfinite(self.threshold) and self.threshold > 0, "threshold", "must be a finite number > 0")
    require(self.chunk_size >= 0, "chunk_size", "must be >= 0")
    require(math.isfinite(self.memory_limit_gb) and self.memory_limit_gb >= 0, "memory_limit_gb",
            "must be a finite number >= 0")
    if self.mode == "zip":
        lengths = {len(v) for v in self.sweep().values()}
        require(len(lengths) <= 1, "sweep", f"zip mode needs equally long value lists, got lengths {lengths}")
    base = self.base()
    for key, values in self.sweep().items():
        require(self.mode == "zip" or len(set(values)) == len(values), key, f"has duplicate values {list(values)}")
        for value in values:
            base.replace(**{key: value})  # validated at construction
    return self


#: The CLI form of a polynomial-task sweep, derived from :class:`PolyConfig` (one declaration): its fields
#: (swept ones as lists, ``seed`` replaced by ``seeds``) plus the options of the sweep.
Config = dataclasses.make_dataclass(
    "Config", [_cli_field(f) for f in dataclasses.fields(PolyConfig) if f.name != "seed"] + _SWEEP_OPTIONS,
    frozen=True, namespace={"base": _base, "sweep": _sweep, "validate": _validate, "__post_init__": validate_fields,
                            "__doc__": "PolyConfig fields (swept ones as lists) plus the sweep's options."})


def run(config: Config, quiet: bool = False) -> xr.Dataset:
    """Run the sweep and attach a printed summary (grokking delay per configuration)."""
    from grokjax._metrics import grokking_summary
    from grokjax._sweep import run_sweep

    if config.distributed or config.coordinator_address:
        from grokjax.distributed import initialize

        initialize(config.coordinator_address or None, config.num_processes or None,
                   config.process_id if config.process_id >= 0 else None)
    ds = run_sweep(config.base(), config.sweep(), config.seeds, mode=config.mode, quiet=quiet,
                   checkpoint_dir=config.checkpoint_dir or None, chunk_size=config.chunk_size or None,
                   memory_limit=int(config.memory_limit_gb * 2**30) or None)
    summary = grokking_summary(ds, config.threshold)
    for name in summary.data_vars:
        ds[f"grok_{name}"] = summary[name]
    lines = [f"engine: {ds.attrs['engine']}, wall time {ds.attrs['wall_seconds']:.1f} s, "
             f"diverged: {ds.attrs['n_diverged']}", summary_table(ds, summary, config.threshold)]
    ds.attrs["summary"] = "\n".join(lines)
    return ds


def summary_table(ds: xr.Dataset, summary: xr.Dataset, threshold: float) -> str:
    """One labelled row per configuration: its swept values and seed, final losses, grokking times."""
    import numpy as np

    final = ds.isel(step=-1)
    dims = [d for d in final["test_loss"].dims]
    labels = [d for d in dims if d != "config"] + [c for c in ds.coords if c not in ds.dims and c != "step"]
    columns = {"test": final["test_loss"], "lazy test": final["lazy_test_loss"], "kernel regr.": ds["kr_test_loss"],
               f"t_train(<{threshold:g})": summary["t_train"], f"t_test(<{threshold:g})": summary["t_test"],
               "delay": summary["delay"]}
    header = labels + list(columns)
    rows = []
    for index in np.ndindex(*final["test_loss"].shape):
        at = dict(zip(dims, index))
        row = [f"{float(ds[c].isel({k: v for k, v in at.items() if k in ds[c].dims}).values):g}" for c in labels]
        row += [f"{float(v.isel(at).values):.4g}" for v in columns.values()]
        rows.append(row)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    return "\n".join([fmt.format(*header)] + [fmt.format(*r) for r in rows])
