"""Shared benchmark helpers: timing and the machine's measured float32 matmul peak."""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp


def timed(fn, *args, repeats: int = 1):
    """(result, best wall seconds) of ``fn(*args)`` with results blocked on."""
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return out, best


def matmul_peak_flops(n: int = 2048, repeats: int = 5) -> float:
    """Measured float32 GEMM throughput (FLOP/s) of the default device: best of ``repeats`` n x n products."""
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    jax.block_until_ready(f(a))
    _, seconds = timed(f, a, repeats=repeats)
    return 2.0 * n**3 / seconds


def table(rows: list[dict], columns: list[str]) -> str:
    widths = [max(len(c), *(len(_fmt(r.get(c, ""))) for r in rows)) for c in columns]
    lines = [" | ".join(c.ljust(w) for c, w in zip(columns, widths)),
             "-|-".join("-" * w for w in widths)]
    for r in rows:
        lines.append(" | ".join(_fmt(r.get(c, "")).ljust(w) for c, w in zip(columns, widths)))
    return "\n".join(lines)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)
