import gc
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Every dataset written during the tests (in-process and by CLI subprocesses) must describe all its variables.
os.environ.setdefault("GROKJAX_STRICT_METADATA", "1")

# One OpenBLAS thread (numpy's eigh/eigvalsh in the tests): the two pytest-xdist workers already keep both cores
# busy, and OpenBLAS's extra threads busy-wait on a loaded machine (a 2500x2500 eigvalsh: 16 s -> 7 s CPU measured).
# Set here, in the controller, before the workers and CLI subprocesses start (they inherit it); XLA's own thread
# pool is unaffected. numpy is already imported in this process by then, so `-n 0` keeps its default threads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# One persistent XLA compilation cache for the whole test session (a fresh temporary folder, removed at the end, so
# a run from a fresh clone pays every distinct compilation once and nothing leaks between sessions). Set through the
# environment before jax is imported, so the CLI subprocesses the tests start (which inherit os.environ) share it:
# identical HLO built by different tests, closures or processes is compiled once. No test counts compilations.
# A JAX_COMPILATION_CACHE_DIR already set by the caller is used as it is (and kept).
_CACHE_PREFIX = "grokjax-test-xla-cache-pid"


def _remove_caches_of_ended_sessions():
    """A session killed before its end (SIGKILL, a timeout) cannot remove its cache folder: the next one does."""
    for folder in Path(tempfile.gettempdir()).glob(_CACHE_PREFIX + "*"):
        pid = folder.name[len(_CACHE_PREFIX):].split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists() and Path("/proc/self").exists():
            shutil.rmtree(folder, ignore_errors=True)


if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _remove_caches_of_ended_sessions()
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix=f"{_CACHE_PREFIX}{os.getpid()}-")
    os.environ["GROKJAX_TEST_XLA_CACHE_OWNER"] = str(os.getpid())
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")

import jax  # noqa: E402
from hypothesis import settings  # noqa: E402

from grokjax import run_single as run_one  # noqa: E402,F401  (shared by the test modules)

# The environment is read when jax is imported; a jax imported earlier (by a plugin) gets the same settings here.
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs",
                  float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))
jax.config.update("jax_persistent_cache_min_entry_size_bytes",
                  int(os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"]))

# Generated-input tests (tests/test_properties.py): the default run draws 5 examples per field (every field still
# gets bad values of several kinds; the draws are derandomized, so a run is reproducible); the "thorough" profile
# keeps the full count: `python -m pytest --hypothesis-profile thorough tests/test_properties.py`.
settings.register_profile("default", max_examples=5)
settings.register_profile("thorough", max_examples=12)
settings.load_profile("default")


# Scheduling hint for the two pytest-xdist workers (`--dist loadfile --no-loadscope-reorder` in pyproject.toml): the
# files are dealt out longest first (longest-processing-time first), so the workers finish together instead of one
# waiting on a long file dealt out last; every file of 3 s or more is ranked, the short rest follow in collection
# order. Ranked by their wall time in a run on 2 cores (stop 31); a stale list only costs speed, never
# correctness.
_LONGEST_FIRST = ("test_lazy_rich.py", "test_gpu_check.py", "test_poly_dynamics.py", "test_dmft_finite.py",
                  "test_benchmarks.py", "test_sweep_scale.py", "test_tasks_runs.py", "test_kernel_movement.py",
                  "test_dmft_blocked.py", "test_dmft_sim.py", "test_poly_formulas.py", "test_figure_from.py",
                  "test_appendix.py", "test_lazy_rich_tasks.py", "test_dmft_noise.py", "test_sweep_lock.py",
                  "test_checkpoints.py", "test_bench_model.py", "test_properties.py", "test_readme.py",
                  "test_input_files.py", "test_ntk_gram.py", "test_tasks_common.py", "test_model_cli.py",
                  "test_engines.py", "test_committed_figures.py", "test_dmft_ntk_alignment.py",
                  "test_dmft_online.py", "test_dataset_schema.py", "test_task_kernel_movement.py",
                  "test_store_safety.py", "test_figure_seeds.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(_LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable


# Python's cyclic garbage collector: the suite traces and lowers ~1000 programs, which creates Python objects by the
# million, and every full collection re-scans every long-lived object (jax, numpy, xarray, matplotlib, the test
# modules). Those are frozen once collected (gc.freeze: never scanned again) and the young generation is collected
# less often. Measured on test_lazy_rich.py + test_poly_dynamics.py in one process: GC time 2.0 s -> 0.8 s, wall
# 53.3 s -> 51.1 s. Garbage is still collected (later); no test depends on when.
gc.set_threshold(10_000, 20, 20)


def pytest_collection_finish(session):
    gc.collect()
    gc.freeze()


def pytest_unconfigure(config):
    if os.environ.get("GROKJAX_TEST_XLA_CACHE_OWNER") == str(os.getpid()):
        shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield
