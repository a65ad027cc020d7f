"""Two sweeps on one checkpoint folder: the second is refused (ConcurrentWriteError on checkpoint_dir, exit 2
in the CLI) instead of racing the first; run_sweep holds the folder's lock for its whole checkpoint loop."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from _layouts import CHECKPOINT_LAYOUT

import grokjax as gj
from grokjax.store import ConcurrentWriteError, folder_lock

BASE = CHECKPOINT_LAYOUT  # two configurations a chunk: tests/test_checkpoints.py's compiled program
# the sweep whose checkpoint loop holds the lock: chunks of one configuration, ~0.6 s each unloaded
LOCK_LOOP = dict(D=6, N=8, P=12, P_test=20, steps=40000, n_log=4, n_align=10)
GROKJAX = Path(sys.executable).with_name("grokjax")


def _env():
    return {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONUNBUFFERED": "1"}


def _holder(folder: Path) -> subprocess.Popen:
    """Another process holding the checkpoint folder's lock until its stdin closes."""
    script = textwrap.dedent(f"""
        import sys
        from grokjax.store import folder_lock
        with folder_lock({str(folder)!r}):
            print("held", flush=True)
            sys.stdin.read()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=_env())
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_sweep_on_a_locked_checkpoint_folder_is_refused(tmp_path):
    ckpt = tmp_path / "ckpt"
    proc = _holder(ckpt)
    try:
        with pytest.raises(ConcurrentWriteError, match="another process") as err:
            gj.run_sweep(gj.PolyConfig(**BASE), {"alpha": [1.0, 2.0]}, checkpoint_dir=ckpt)
        assert err.value.field == "checkpoint_dir" and isinstance(err.value, gj.ConfigError)
        assert sorted(p.name for p in ckpt.iterdir()) == [".lock"]  # nothing written by the refused sweep
        out = tmp_path / "r.nc"
        result = subprocess.run([str(GROKJAX), "run", "poly", *_flags(), "--checkpoint-dir", str(ckpt),
                                 "--out", str(out), "--quiet"], capture_output=True, text=True, env=_env(),
                                timeout=300)
        assert result.returncode == 2, result.stderr
        assert "checkpoint_dir" in result.stderr and "Traceback" not in result.stderr
        assert not out.exists()
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    ds = gj.run_sweep(gj.PolyConfig(**BASE), {"alpha": [1.0, 2.0]}, checkpoint_dir=ckpt)  # free again
    assert ds.sizes["alpha"] == 2
    assert not (ckpt / ".lock").exists()  # lock file removed on release


def _flags():
    return [x for k, v in BASE.items() for x in (f"--{k.replace('_', '-')}", str(v))]


def test_lock_is_held_for_the_whole_checkpoint_loop(tmp_path):
    """A real sweep in another process: while it is between chunks (about 0.6 s each unloaded), a second sweep on its folder is refused."""
    ckpt = tmp_path / "ckpt"
    script = textwrap.dedent(f"""
        import grokjax as gj
        base = gj.PolyConfig(**{LOCK_LOOP!r})
        gj.run_sweep(base, {{"alpha": [1.0, 2.0, 3.0, 4.0]}}, chunk_size=1, checkpoint_dir={str(ckpt)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env=_env(), stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not list(ckpt.glob("chunk_*.npz")) and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None and len(list(ckpt.glob("chunk_*.npz"))) < 4, "first sweep ended too soon"
        with pytest.raises(ConcurrentWriteError) as err:
            gj.run_sweep(gj.PolyConfig(**LOCK_LOOP), {"alpha": [1.0, 2.0, 3.0, 4.0]}, chunk_size=1, checkpoint_dir=ckpt)
        assert err.value.field == "checkpoint_dir"
    finally:
        _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert len(list(ckpt.glob("chunk_*.npz"))) == 4 and not (ckpt / ".lock").exists()
    with folder_lock(ckpt):  # released at the end of the sweep
        pass
