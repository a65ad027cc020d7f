"""SIGINT / SIGTERM: a run stops at once (even inside a compiled run or a compilation) with one line, exit 130 /
143, no traceback, no partial output, no lock or temporary file left; rerunning resumes to the same dataset.

One case runs in the default suite; the matrix (signal x phase x command) is marked slow."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import grokjax as gj

ROOT = Path(__file__).resolve().parents[1]
POLY = ["run", "poly", "--D", "8", "--N", "16", "--P", "24", "--P-test", "40", "--n-log", "10", "--alpha", "1", "2",
        "3", "--chunk-size", "1"]
MODULAR = ["run", "modular", "--p", "23", "--hidden", "64", "--alpha", "1", "2"]
FIGURE = ["figure", "fig1", "--size", "tiny"]


class Proc:
    """A grokjax subprocess whose stderr is collected line by line while it runs."""

    def __init__(self, args, cwd, **env):
        self.lines: list[str] = []
        environment = dict(os.environ, PYTHONPATH=str(ROOT), **env)
        if env.get("JAX_LOG_COMPILES") == "1":
            # the signal must land inside a real compilation, not a hit in the session's persistent XLA cache
            # (tests/conftest.py), which another test may have filled with the same program
            environment["JAX_ENABLE_COMPILATION_CACHE"] = "0"
        self.proc = subprocess.Popen([sys.executable, "-m", "grokjax", *args], cwd=cwd, env=environment,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stderr), daemon=True)
        self.reader.start()

    def wait_for(self, predicate, timeout=300):
        deadline = time.time() + timeout
        while time.time() < deadline and self.proc.poll() is None:
            if predicate():
                return True
            time.sleep(0.02)
        return False

    def interrupt(self, sig):
        started = time.time()
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=60)
        self.reader.join(timeout=5)
        return rc, time.time() - started


def _assert_clean(folder: Path, rc: int, sig: int, lines: list[str], elapsed: float, exact: bool = True):
    assert rc == 128 + sig, (rc, lines)
    text = "".join(lines)
    assert "Traceback" not in text and "Segmentation" not in text, text
    stops = [line for line in lines if line.startswith("grokjax: interrupted")]
    assert len(stops) == 1 and signal.Signals(sig).name in stops[0], text
    if exact:
        assert lines == stops, text  # the one line is all
    assert elapsed < 5, elapsed  # promptly, not when the compiled run ends
    left = [p for p in folder.rglob("*") if p.name.endswith((".lock", ".tmp"))]
    assert not left, left
    empty = [p for p in folder.rglob("*") if p.is_dir() and not any(p.iterdir())]
    assert not empty, empty  # no output folder the command created and left empty


def test_interrupt_removes_the_empty_output_folders_it_created(tmp_path):
    """In process: the folders created for outputs are removed by the interrupt's clean-up while empty (deepest
    first); a folder that holds a file, and a folder that was there before, stay."""
    from grokjax import _interrupt
    from grokjax.store import folder_lock, output_lock

    (tmp_path / "old").mkdir()
    with _interrupt.handled():
        with output_lock(tmp_path / "a" / "b" / "o.nc"), folder_lock(tmp_path / "old" / "ck"), \
                folder_lock(tmp_path / "kept" / "ck"):
            (tmp_path / "kept" / "ck" / "chunk_0.npz").write_bytes(b"x")
            _interrupt._cleanup()
            assert not (tmp_path / "a").exists() and not (tmp_path / "old" / "ck").exists()
            assert (tmp_path / "old").is_dir() and (tmp_path / "kept" / "ck" / "chunk_0.npz").exists()
    assert not _interrupt._CREATED


def test_sigterm_during_a_chunk_of_run_poly_stops_at_once(tmp_path):
    out = tmp_path / "new" / "sub" / "o.nc"  # folders the command creates: none left empty after the interrupt
    proc = Proc([*POLY, "--steps", "400000", "--checkpoint-dir", "ck", "--out", str(out), "--quiet"], tmp_path)
    assert proc.wait_for(lambda: (tmp_path / "ck" / "manifest.json").exists())
    time.sleep(0.5)  # inside the first compiled chunk (tens of seconds long)
    rc, elapsed = proc.interrupt(signal.SIGTERM)
    _assert_clean(tmp_path, rc, signal.SIGTERM, proc.lines, elapsed)
    assert "chunks saved in ck/" in proc.lines[0] and "rerun the same command to resume" in proc.lines[0]
    assert not (tmp_path / "new").exists()


def _phase_wait(proc, phase, tmp_path):
    if phase == "compilation":
        return proc.wait_for(lambda: any("Compiling" in line or "compiling" in line for line in proc.lines))
    if phase == "chunk":
        return proc.wait_for(lambda: len(list((tmp_path / "ck").glob("chunk_*.npz"))) >= 1)
    raise AssertionError(phase)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("phase", ["compilation", "chunk"])
def test_run_poly_interrupted_then_resumed_equals_uninterrupted(tmp_path, sig, phase):
    args = [*POLY, "--steps", "60000", "--checkpoint-dir", "ck", "--out", "o.nc", "--quiet"]
    proc = Proc(args, tmp_path, JAX_LOG_COMPILES="1" if phase == "compilation" else "0")
    assert _phase_wait(proc, phase, tmp_path), proc.lines
    time.sleep(0.05)
    rc, elapsed = proc.interrupt(sig)
    _assert_clean(tmp_path, rc, sig, proc.lines, elapsed, exact=phase != "compilation")
    assert not (tmp_path / "o.nc").exists()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    resumed = subprocess.run([sys.executable, "-m", "grokjax", *args], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr
    clean = subprocess.run([sys.executable, "-m", "grokjax", *POLY, "--steps", "60000", "--out", "u.nc", "--quiet"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert clean.returncode == 0, clean.stderr
    a, b = gj.load_dataset(tmp_path / "o.nc"), gj.load_dataset(tmp_path / "u.nc")
    for name in (*gj.METRICS, "kr_test_loss", "diverged_step"):
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("phase", ["compilation", "running"])
@pytest.mark.parametrize("command", ["task", "figure"])
def test_task_and_figure_interrupted_cleanly(tmp_path, sig, phase, command):
    if command == "task":
        args = [*MODULAR, "--steps", "200000", "--out", "m.nc"]
    elif phase == "running":  # fig1 small trains for ~20 s (tiny finishes in ~3 s, racing the signal)
        args = ["figure", "fig1", "--size", "small", "--out", "figs"]
    else:
        args = [*FIGURE, "--out", "figs"]
    proc = Proc(args, tmp_path, JAX_LOG_COMPILES="1" if phase == "compilation" else "0")
    if phase == "compilation":
        assert _phase_wait(proc, phase, tmp_path), proc.lines
    else:
        time.sleep(20 if command == "task" else 10)
    time.sleep(0.05)
    assert proc.proc.poll() is None, proc.lines  # still running when the signal comes
    rc, elapsed = proc.interrupt(sig)
    _assert_clean(tmp_path, rc, sig, proc.lines, elapsed, exact=False)
    assert not (tmp_path / "m.nc").exists()
    assert not [p for p in tmp_path.rglob("*.nc")], list(tmp_path.rglob("*"))
