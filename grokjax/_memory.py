"""One memory estimate before every compute: the usable memory of a device and the refusal, naming a field.

:func:`memory_limit_bytes` is the budget (80 % of a GPU's memory, 70 % of the host's RAM on CPU; the environment
variable ``GROKJAX_MEMORY_LIMIT_GB`` overrides it); :func:`check_memory` refuses an estimate above it with a
:class:`grokjax.ConfigError` naming the field that drives it, before anything is allocated.
:func:`task_bytes` estimates the peak of a task run (``grokjax run modular|transformer|mnist|teacher``) from its
resolved configuration: every vmapped run holds its parameters several times (network, linearisation, gradients,
optimiser state) and its activations on the full batch. The estimates are upper-bound-ish (a factor 1.5 over the
arrays counted) — their job is to refuse sizes that cannot fit, not to predict the peak to the byte.
"""
from __future__ import annotations

import math
import os
from typing import Any, Mapping

from grokjax._errors import ConfigError

__all__ = ["memory_limit_bytes", "check_memory", "task_bytes", "check_task_memory"]

_SAFETY = 1.5


def memory_limit_bytes() -> int:
    """Usable memory of one local device: ``GROKJAX_MEMORY_LIMIT_GB`` if set, else 80 % of the GPU's memory,
    else 70 % of the host's RAM."""
    override = os.environ.get("GROKJAX_MEMORY_LIMIT_GB")
    if override:
        try:
            value = float(override)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise ConfigError("GROKJAX_MEMORY_LIMIT_GB", f"must be a finite number > 0, got {override!r}")
        return int(value * 2**30)
    import jax

    device = jax.local_devices()[0]
    stats = getattr(device, "memory_stats", lambda: None)()
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] * 0.8)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.7)
    except (ValueError, OSError):  # pragma: no cover
        return 8 << 30


def check_memory(need: Mapping[str, float] | float, field: str | None = None, *, limit: int | None = None,
                 what: str = "this run") -> None:
    """Refuse (``ConfigError``) an estimate above ``limit`` (default :func:`memory_limit_bytes`). ``need`` is bytes,
    or ``{field: bytes}`` per driving field, in which case the largest term's field is named."""
    terms = dict(need) if isinstance(need, Mapping) else {field or "memory": float(need)}
    total = sum(terms.values())
    limit = memory_limit_bytes() if limit is None else limit
    if total > limit:
        name = max(terms, key=terms.get)
        raise ConfigError(name, f"{what} needs ~{total / 2**30:.2f} GiB of memory, more than the "
                          f"{limit / 2**30:.2f} GiB available; lower {name}")


def _mlp_params(sizes) -> int:
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def task_bytes(task: str, cfg: Any) -> dict[str, float]:
    """Estimated peak bytes of a task run, split by the field that drives each term (``cfg`` resolved)."""
    f32 = 4
    if task == "modular":
        n_runs = len(cfg.alpha) * len(cfg.seed)
        pairs, d = cfg.p ** 2, 2 * cfg.p
        params = cfg.hidden * d + cfg.p * cfg.hidden
        return {"hidden": n_runs * (8 * params + 4 * pairs * cfg.hidden) * f32 * _SAFETY,
                "p": n_runs * 4 * pairs * (d + cfg.p) * f32 * _SAFETY,
                "kernel_points": n_runs * 2 * (cfg.kernel_points * cfg.p) ** 2 * f32 * _SAFETY}
    if task == "transformer":
        n_runs = len(cfg.alpha) * len(cfg.seed) * (2 if cfg.track_linear else 1)
        vocab, examples = cfg.p + 1, cfg.p ** 2
        params = 2 * vocab * cfg.d_model + 4 * cfg.d_model ** 2 + 2 * cfg.d_model * cfg.d_mlp + 3 * cfg.d_model
        # calibrated on the notebook preset (10 runs, p = 113): peak RSS 2.5 GB, this estimate ~4 GB
        acts = examples * 3 * (6 * cfg.d_model + 2 * cfg.d_mlp + 9 * cfg.n_heads) + examples * cfg.p
        return {"d_model": n_runs * 8 * params * f32 * _SAFETY, "p": n_runs * acts * f32 * _SAFETY,
                "kernel_points": n_runs * 2 * (cfg.kernel_points * cfg.p) ** 2 * f32 * _SAFETY}
    if task == "mnist":
        n_runs = len(cfg.alpha) * len(cfg.init_scale) * len(cfg.seed)
        width_in = (28 // cfg.downsample) ** 2
        sizes = [width_in] + [cfg.width] * (cfg.depth - 1) + [10]
        batch = cfg.batch or cfg.n_train
        return {"width": n_runs * 8 * _mlp_params(sizes) * f32 * _SAFETY,
                "n_train": n_runs * 3 * (batch + cfg.n_test) * sum(sizes) * f32 * _SAFETY
                + (cfg.n_train + cfg.n_test) * width_in * f32,
                "kernel_points": n_runs * 2 * (cfg.kernel_points * 10) ** 2 * f32 * _SAFETY}
    if task == "teacher":
        n_runs = len(cfg.alpha) * len(cfg.seed) * (2 if cfg.track_linear else 1)
        sizes = [cfg.d_in, cfg.width, cfg.width, cfg.d_out]
        return {"width": n_runs * 8 * _mlp_params(sizes) * f32 * _SAFETY,
                "n_train": n_runs * 3 * (cfg.n_train + cfg.n_test) * sum(sizes) * f32 * _SAFETY,
                "kernel_points": n_runs * 2 * (cfg.kernel_points * cfg.d_out) ** 2 * f32 * _SAFETY}
    raise ValueError(f"no memory estimate for task {task!r}")


def check_task_memory(task: str, cfg: Any, limit: int | None = None) -> None:
    """Refuse a task configuration whose estimated peak exceeds the memory limit, before compute."""
    check_memory(task_bytes(task, cfg), limit=limit, what=f"run {task}")
