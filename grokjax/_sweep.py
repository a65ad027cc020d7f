"""Sweeps: many configurations of one shape compiled once, vmapped, chunked, sharded, resumable.

A sweep is a base :class:`PolyConfig`, a mapping ``{field: values}`` over the swept scalars
(:data:`grokjax._config.SWEEPABLE`) combined as a Cartesian product (``mode="product"``) or element-wise
(``mode="zip"``), and a list of seeds. All configurations share shapes, so the whole sweep is one compiled
program: ``jit(vmap(simulate))`` over the flattened configuration axis, which is split into chunks that fit
in memory and sharded over all local devices. Finished chunks are written atomically to a checkpoint folder,
so re-running the same call after a crash recomputes nothing that was finished. Under
``jax.distributed`` each process computes the chunks ``i % process_count == process_index`` and the parts are
exchanged with JAX's own collectives.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import time
from pathlib import Path
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from grokjax._config import SWEEPABLE, PolyConfig, check_seeds, choose_engine, is_int, step_cost
from grokjax._checkpoint import run_chunks
from grokjax._errors import ConfigError, require
from grokjax._memory import memory_limit_bytes
from grokjax._simulate import METRICS, as_traced, compiled_simulate, logged_steps, simulate
from grokjax.store import check_writable, config_to_json

SCALAR_OUTPUTS = ("kr_test_loss", "diverged_step", "lazy_diverged_step")


class SweepTooLarge(ConfigError):
    """Raised (before compute) when not even one configuration fits in the memory limit."""


def sweep_points(sweep: Mapping[str, Sequence[float]], mode: str = "product") -> list[dict[str, float]]:
    """The list of swept-scalar assignments, in C order of the sweep's fields."""
    require(mode in ("product", "zip"), "mode", f"must be 'product' or 'zip', got {mode!r}")
    require(isinstance(sweep, Mapping), "sweep", f"must be a mapping {{field: [values]}}, got {sweep!r}")
    keys = list(sweep)
    for key in keys:
        require(key in SWEEPABLE, str(key), f"cannot be swept in one compiled program (sweepable: {SWEEPABLE})")
        values = sweep[key]
        require(isinstance(values, (list, tuple)) or (isinstance(values, np.ndarray) and values.ndim == 1), key,
                f"a swept field takes a list of values, got {values!r}")
        require(len(values) >= 1, key, "needs at least one value")
        if mode == "product":
            require(len(set(map(repr, values))) == len(values), key, f"has duplicate values {list(values)}")
    if not keys:
        return [{}]
    if mode == "product":
        return [dict(zip(keys, combo)) for combo in itertools.product(*(sweep[k] for k in keys))]
    require(mode == "zip", "mode", "must be 'product' or 'zip'")
    lengths = {len(sweep[k]) for k in keys}
    require(len(lengths) == 1, "sweep", f"zip mode needs equally long value lists, got {lengths}")
    points = list(zip(*(sweep[k] for k in keys)))
    require(len(set(map(repr, points))) == len(points), "sweep", "zip mode has duplicate configurations")
    return [dict(zip(keys, values)) for values in points]


def bytes_per_config(cfg: PolyConfig) -> int:
    """Estimated peak bytes of one configuration in a vmapped sweep (data, state, kernels, metrics)."""
    item = 8 if cfg.dtype == "float64" else 4
    D, N, P, Pt = cfg.D, cfg.N, cfg.P, cfg.P_test
    data = (P + Pt) * D + 2 * (P + Pt)
    if choose_engine(cfg) == "reduced":
        state = 12 * D * D + 4 * D
    else:
        state = 6 * N * D * (2 if cfg.lazy else 1) + 3 * P * N
    work = 3 * P * D + 2 * min(cfg.n_align, Pt) ** 2 + (2 * P * P + Pt * P if cfg.kernel_regression else 0)
    metrics = len(METRICS) * len(logged_steps(cfg))
    return int(item * (data + state + work + metrics) * 1.5)


def _fingerprint(base: PolyConfig, points, seeds) -> str:
    blob = json.dumps({"base": config_to_json(base), "points": points, "seeds": list(seeds)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _compiled(mesh, progress):
    if mesh is None and progress is None:
        return compiled_simulate(batched=True)
    fn = jax.vmap(lambda c, k: simulate(c, k, on_interval=progress))
    if mesh is None:
        return jax.jit(fn)
    from jax.sharding import NamedSharding, PartitionSpec

    sharding = NamedSharding(mesh, PartitionSpec("configs"))
    return jax.jit(fn, in_shardings=(sharding, sharding), out_shardings=sharding)


def run_sweep(base: PolyConfig, sweep: Mapping[str, Sequence[float]] | None = None,
              seeds: Sequence[int] | None = None,
              *, mode: str = "product", chunk_size: int | None = None, checkpoint_dir: str | Path | None = None,
              memory_limit: int | None = None, quiet: bool = True, use_all_devices: bool = True) -> xr.Dataset:
    """Run every (swept point, seed) configuration and return one labelled dataset.

    ``seeds`` defaults to ``[base.seed]``. Dims: the swept fields (``mode="product"``) or ``config`` (``mode="zip"``), then ``seed`` and ``step``.
    Every configuration is validated before any compute; diverging configurations are frozen and flagged
    (``diverged_step`` >= 0) without affecting the others. ``checkpoint_dir`` is locked
    (:func:`grokjax.store.folder_lock`) for the whole checkpoint/resume loop: a second sweep on the same
    folder, in another process, is refused at once with :class:`grokjax.store.ConcurrentWriteError` (a
    ``ConfigError`` on ``checkpoint_dir``; exit code 2 in the CLI).
    """
    require(isinstance(base, PolyConfig), "base", f"must be a PolyConfig, got {type(base).__name__}")
    sweep = {} if sweep is None else sweep
    seeds = check_seeds([base.seed] if seeds is None else seeds)
    require(chunk_size is None or (is_int(chunk_size) and chunk_size >= 1), "chunk_size",
            f"must be an integer >= 1 (or None = as many as fit), got {chunk_size!r}")
    require(memory_limit is None or (is_int(memory_limit) and memory_limit >= 1), "memory_limit",
            f"must be a number of bytes >= 1 (or None = detect), got {memory_limit!r}")
    points = sweep_points(sweep, mode)
    sweep = dict(sweep)
    for point in points:
        base.replace(**point)  # validated at construction
    n_points, n_seeds = len(points), len(seeds)
    total = n_points * n_seeds

    per_config = bytes_per_config(base)
    limit = memory_limit if memory_limit is not None else memory_limit_bytes()
    if per_config > limit:
        raise SweepTooLarge("memory_limit", f"one configuration needs ~{per_config / 2**20:.1f} MiB, more than "
                            f"the limit of {limit / 2**20:.1f} MiB per device")
    devices = jax.local_devices() if use_all_devices else jax.local_devices()[:1]
    n_dev = len(devices)
    fit = max(1, limit // per_config)
    chunk = min(total, fit * n_dev, chunk_size or total)
    chunk = max(n_dev, -(-chunk // n_dev) * n_dev) if n_dev > 1 else chunk

    mesh = None
    if n_dev > 1:
        from jax.sharding import AxisType, Mesh

        mesh = Mesh(np.array(devices), ("configs",), axis_types=(AxisType.Auto,))

    flat_scalars = np.array([[point.get(f, getattr(base, f)) for f in SWEEPABLE]
                             for point in points for _ in seeds], dtype=np.float64)
    flat_seeds = np.array([seed for _ in points for seed in seeds], dtype=np.uint32)
    columns = {"seed": flat_seeds, **{f: flat_scalars[:, j] for j, f in enumerate(SWEEPABLE)}}  # what a chunk holds

    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if ckpt is not None:
        check_writable(ckpt, "checkpoint_dir", directory=True)
    bar = None
    if not quiet:
        from tqdm.auto import tqdm

        bar = tqdm(total=total * base.steps, unit="step", unit_scale=True,
                   desc=f"{total} configs ({choose_engine(base)} engine)")
    state = {"last": 0}

    def progress(step):
        if bar is not None:
            step = int(step)
            bar.update((step - state["last"]) * state["width"])
            state["last"] = step

    run = _compiled(mesh, progress if bar is not None else None)
    static = base.replace(seed=0)  # seeds enter as keys

    def compute(idx):
        with jax.enable_x64(base.dtype == "float64"):
            configs = as_traced(static, {f: flat_scalars[idx, j] for j, f in enumerate(SWEEPABLE)})
            keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(flat_seeds[idx]))
            state.update(last=0, width=min(len(idx), total - int(idx[0])))  # real rows (no padding)
            return run(configs, keys)

    # the one chunk loop (grokjax._checkpoint.run_chunks): lock, manifest, resume, atomic chunks, multi-host split
    fingerprint = _fingerprint(base, points, seeds)
    started = time.perf_counter()
    flat, chunk, n_chunks = run_chunks(
        compute, columns, chunk, checkpoint_dir=ckpt, fingerprint=fingerprint, chunk_size=chunk_size,
        max_chunk=fit * n_dev, n_dev=n_dev, expected=(*METRICS, *SCALAR_OUTPUTS),
        on_reused=None if bar is None else (lambda rows: bar.update(rows * base.steps)))
    elapsed = time.perf_counter() - started
    if bar is not None:
        bar.close()
    process_count = jax.process_count()
    ds = _to_dataset(base, sweep, mode, points, seeds, flat)
    ds.attrs.update(engine=choose_engine(base), cost_per_step_weights=step_cost(base)["weights"],
                    cost_per_step_reduced=step_cost(base)["reduced"], n_chunks=n_chunks, chunk_size=chunk,
                    devices=n_dev, processes=process_count, wall_seconds=elapsed, sweep_fingerprint=fingerprint,
                    n_diverged=int(np.sum(flat["diverged_step"] >= 0)))
    return ds


def _to_dataset(base, sweep, mode, points, seeds, flat) -> xr.Dataset:
    steps = logged_steps(base)
    if mode == "product" and sweep:
        dims = list(sweep) + ["seed"]
        shape = [len(sweep[k]) for k in sweep] + [len(seeds)]
        coords = {k: np.asarray(sweep[k], dtype=float) for k in sweep}
    elif not sweep:
        dims, shape, coords = ["seed"], [len(seeds)], {}
    else:
        dims = ["config", "seed"]
        shape = [len(points), len(seeds)]
        coords = {"config": np.arange(len(points))}
        for key in sweep:
            coords[key] = ("config", np.asarray([p[key] for p in points], dtype=float))
    coords["seed"] = np.asarray(seeds)
    coords["step"] = steps
    data_vars = {}
    for name in METRICS:
        data_vars[name] = (dims + ["step"], flat[name].reshape(shape + [len(steps)]))
    for name in SCALAR_OUTPUTS:
        data_vars[name] = (dims, flat[name].reshape(shape))
    return xr.Dataset(data_vars, coords=coords)
