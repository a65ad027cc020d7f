"""Polynomial regression with the two-layer committee machine (the paper's toy model).

``grokjax run poly --alpha 0.5 1 2 --eps 0.02 --seeds 0 1 ...``: every field of :class:`grokjax.PolyConfig` is
a flag; the swept scalars (alpha, eps, eta0, init_scale, momentum, weight_decay) take several values and are
combined as a product (``--mode zip`` pairs them element-wise); all configurations run in one compiled,
vmapped program. Step size eta = eta0 N / alpha^2 on the plain MSE (no 1/2); centred predictor f - f0.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import xarray as xr

from grokjax._config import SWEEPABLE, PolyConfig
from grokjax._errors import require
from grokjax._metrics import grokking_summary
from grokjax._sweep import run_sweep

_defaults = PolyConfig()


def _field(name):
    return getattr(_defaults, name)


@dataclass(frozen=True)
class Config:
    """CLI form of a polynomial-task sweep: :class:`PolyConfig` fields with the swept scalars as tuples."""

    D: int = 100
    N: int = 500
    P: int = 550
    P_test: int = 1000
    alpha: tuple[float, ...] = (1.0,)
    eps: tuple[float, ...] = (0.02,)
    eta0: tuple[float, ...] = (1.0,)
    init_scale: tuple[float, ...] = (1.0,)
    momentum: tuple[float, ...] = (0.9,)
    weight_decay: tuple[float, ...] = (0.0,)
    seeds: tuple[int, ...] = (0,)
    mode: str = "product"
    steps: int = 20_000
    n_log: int = 100
    log_schedule: str = "log"
    convention: str = "A"
    target: str = "quadratic"
    centered: bool = True
    readouts: str = "fixed"
    optimizer: str = "gd"
    lazy: bool = True
    kernel_regression: bool = True
    ridge: float = 0.0
    n_align: int = 1000
    cka: str = "paper"
    engine: str = "auto"
    dtype: str = "float32"
    divergence_bound: float = 1e8
    threshold: float = 0.1
    checkpoint_dir: str = ""  # folder for finished chunks: re-running the same command resumes
    chunk_size: int = 0  # configurations per compiled chunk (0 = as many as fit in memory)
    memory_limit_gb: float = 0.0  # per-device memory budget (0 = detect)
    distributed: bool = False  # join a multi-host run (jax.distributed; Slurm / Open MPI auto-detected)
    coordinator_address: str = ""  # host:port of process 0 (explicit multi-host launch)
    num_processes: int = 0
    process_id: int = -1

    def base(self) -> PolyConfig:
        fields = {f.name for f in dataclasses.fields(PolyConfig)}
        values = {k: v for k, v in dataclasses.asdict(self).items() if k in fields and k not in SWEEPABLE}
        values.update({k: getattr(self, k)[0] for k in SWEEPABLE})
        return PolyConfig(**values)

    def sweep(self) -> dict[str, tuple[float, ...]]:
        return {k: getattr(self, k) for k in SWEEPABLE if len(getattr(self, k)) > 1}

    def validate(self) -> "Config":
        require(self.mode in ("product", "zip"), "mode", "must be 'product' or 'zip'")
        require(len(self.seeds) >= 1, "seeds", "needs at least one seed")
        require(self.threshold > 0, "threshold", "must be > 0")
        require(self.chunk_size >= 0, "chunk_size", "must be >= 0")
        require(self.memory_limit_gb >= 0, "memory_limit_gb", "must be >= 0")
        base = self.base()
        for key, values in self.sweep().items():
            for value in values:
                base.replace(**{key: value}).validate()
        base.validate()
        return self


def run(config: Config, quiet: bool = False) -> xr.Dataset:
    """Run the sweep and attach a printed summary (grokking delay per configuration)."""
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
             f"diverged: {ds.attrs['n_diverged']}"]
    final_test = ds["test_loss"].isel(step=-1).values.ravel()
    final_lazy = ds["lazy_test_loss"].isel(step=-1).values.ravel()
    delays = summary["delay"].values.ravel()
    lines.append(f"final test loss: {np.array2string(final_test, precision=4)}; lazy model: "
                 f"{np.array2string(final_lazy, precision=4)}; kernel regression: "
                 f"{np.array2string(ds['kr_test_loss'].values.ravel(), precision=4)}")
    lines.append(f"grokking delay (test - train first below {config.threshold}): {delays}")
    ds.attrs["summary"] = "\n".join(lines)
    return ds
