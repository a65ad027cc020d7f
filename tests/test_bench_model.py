"""benchmarks/bench_model.py runs in its --tiny mode (every code path) and its layer and baselines agree."""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_model.py"


def test_bench_model_tiny(capsys, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))  # the script puts benchmarks/ on the path
    spec = importlib.util.spec_from_file_location("_bench_model", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--tiny"]) == 0
    out = capsys.readouterr().out
    assert "jit(step) in a Python loop" in out and "hand-written jit(lax.scan)" in out
    rows = [line.split("|") for line in out.splitlines() if line.startswith(("16 configs", "1 config"))]
    assert len(rows) == 2
    for row in rows:  # the layer computes what the hand-written baselines compute
        assert float(row[-1]) < 1e-4, row
        assert re.match(r"\s*[\d.e+-]+\s*$", row[1]) and re.match(r"\s*[\d.e+-]+\s*$", row[3])
