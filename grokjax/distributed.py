"""Multi-host sweeps through JAX's own distributed runtime.

Call :func:`initialize` once per process before any JAX computation. With no arguments JAX auto-detects the
cluster (Slurm, Open MPI, ...); otherwise pass the coordinator address (``host:port`` of process 0), the number
of processes and this process's id. On CPU the cross-process collectives use Gloo. :func:`grokjax.run_sweep`
then gives each process the chunks ``i % process_count == process_index`` and assembles the full dataset on
every process with ``process_allgather`` (no home-made networking); write results from process 0 only.
"""
from __future__ import annotations

import jax


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> tuple[int, int]:
    """Start ``jax.distributed`` (idempotent); returns ``(process_index, process_count)``."""
    if not jax.distributed.is_initialized():
        try:
            jax.config.update("jax_cpu_collectives_implementation", "gloo")
        except Exception:  # pragma: no cover - option absent in other jax versions
            pass
        jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                                   process_id=process_id)
    return jax.process_index(), jax.process_count()


def is_main_process() -> bool:
    return jax.process_index() == 0
