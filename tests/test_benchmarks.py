"""Every benchmark script in ``benchmarks/`` runs in its ``--tiny`` mode (every code path, seconds), so a benchmark
cannot silently break. ``gpu_check.*`` has its own test (tests/test_gpu_check.py).

The scripts are loaded from their files and their ``main`` called in-process (``bench_dmft`` starts its own
subprocesses, one per point, as in a real run).
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = ("bench_sweep", "bench_fig1", "bench_dmft")


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_benchmark_script_is_covered():
    scripts = {p.stem for p in BENCH.glob("bench_*.py")}
    owned_elsewhere = {"bench_model"}  # the model-layer benchmark: tested with the model layer
    assert scripts - owned_elsewhere <= set(SCRIPTS), f"benchmark without a tiny-mode test: {scripts - set(SCRIPTS)}"


@pytest.mark.parametrize("name, expect", [
    ("bench_sweep", "vmapped sweep (reduced engine)"),
    ("bench_fig1", "max relative difference of the curves"),
])
def test_tiny_mode_runs(name, expect, capsys, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))  # the scripts put benchmarks/ on the path
    _load(name).main(["--tiny"])
    out = capsys.readouterr().out
    assert expect in out
    assert "nan" not in out.lower().replace("nan ", "")


def test_bench_dmft_tiny_mode_runs(capsys):
    assert _load("bench_dmft").main(["--tiny"]) == 0
    out = capsys.readouterr().out
    assert "failed" not in out
    assert out.count("\n       new    200     8") == 2  # the comparison point and the compile-ahead scaling point
