"""Sweeps at scale: several devices, several processes, SIGKILL + resume, memory refusal, bad input."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import grokjax as gj
from _cli import in_process as _in_process  # grokjax ARGV in this process (end to end in a subprocess:
# test_four_simulated_devices_equal_single_device and test_bad_input_exits_2_naming_the_field)
from _layouts import CHECKPOINT_LAYOUT, layout_flags

ROOT = Path(__file__).resolve().parents[1]
# CHECKPOINT_LAYOUT's sizes: the in-process reference (chunks of 2) is the compiled chunk program of
# tests/test_checkpoints.py (the session's persistent XLA cache), not one more program
ARGS = [*layout_flags(CHECKPOINT_LAYOUT), "--alpha", "1", "2", "4", "--eps", "0.2", "0.4", "--seeds", "0", "1",
        "--quiet"]


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def _grokjax(args, **env):
    return subprocess.run([sys.executable, "-m", "grokjax", "run", "poly", *args], env=_env(**env),
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The single-device, single-process run, in-process (the two tests below run the command end to end)."""
    from grokjax import cli

    out = tmp_path_factory.mktemp("ref") / "ref.nc"
    assert cli.main(["run", "poly", *ARGS, "--chunk-size", "2", "--out", str(out)]) == 0
    ds = gj.load_dataset(out)
    assert ds.attrs["devices"] == 1 and ds.attrs["processes"] == 1
    return ds


def _same(a: xr.Dataset, b: xr.Dataset):
    for name in gj.METRICS:
        np.testing.assert_allclose(a[name].values, b[name].values, rtol=1e-6, atol=1e-9, err_msg=name)


def test_four_simulated_devices_equal_single_device(reference, tmp_path):
    out = tmp_path / "dev4.nc"
    result = _grokjax([*ARGS, "--out", str(out)], XLA_FLAGS="--xla_force_host_platform_device_count=4")
    assert result.returncode == 0, result.stderr
    ds = gj.load_dataset(out)
    assert ds.attrs["devices"] == 4
    _same(ds, reference)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_over_loopback_equal_single_process(reference, tmp_path):
    port = _free_port()
    out = tmp_path / "dist.nc"
    procs = [subprocess.Popen([sys.executable, "-m", "grokjax", "run", "poly", *ARGS, "--chunk-size", "3",
                               "--coordinator-address", f"127.0.0.1:{port}", "--num-processes", "2",
                               "--process-id", str(i), "--out", str(out)],
                              env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    ds = gj.load_dataset(out)
    assert ds.attrs["processes"] == 2 and ds.attrs["n_chunks"] == 4
    _same(ds, reference)


@pytest.mark.slow  # ~30 s, three CLI processes; resume is checked in-process by tests/test_checkpoints.py
def test_sigkill_then_resume_gives_identical_dataset(tmp_path):
    ckpt = tmp_path / "ckpt"
    out = tmp_path / "resumed.nc"
    # long enough chunks (about 0.1-1 s each) that the kill lands between chunks, not after the last one
    args = [*ARGS[:ARGS.index("--steps")], "--steps", "20000", *ARGS[ARGS.index("--steps") + 2:]]
    cmd = [sys.executable, "-m", "grokjax", "run", "poly", *args, "--chunk-size", "1",
           "--checkpoint-dir", str(ckpt), "--out", str(out)]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rng = np.random.default_rng()
    target = int(rng.integers(1, 9))  # kill after a random number of the 12 chunks
    deadline = time.time() + 300
    while time.time() < deadline and len(list(ckpt.glob("chunk_*.npz"))) < target and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(list(ckpt.glob("chunk_*.npz")))
    assert not out.exists() and 1 <= done_before < 12
    result = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    uninterrupted = tmp_path / "uninterrupted.nc"
    assert _grokjax([*args, "--chunk-size", "1", "--out", str(uninterrupted)]).returncode == 0
    resumed, clean = gj.load_dataset(out), gj.load_dataset(uninterrupted)
    for name in (*gj.METRICS, "kr_test_loss", "diverged_step"):
        np.testing.assert_array_equal(resumed[name].values, clean[name].values, err_msg=name)  # bit-identical
    computed = [line.split()[0] for line in (ckpt / "computed.log").read_text().splitlines()]
    # no finished chunk was computed twice (the log is appended after a chunk file is in place, so a kill
    # between the two can drop at most one line, never duplicate one)
    assert len(computed) == len(set(computed)) and len(computed) >= 11, computed
    assert not list(ckpt.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_sweep_that_cannot_fit_is_refused_before_compute(tmp_path):
    out = tmp_path / "x.nc"
    rc, err = _in_process(["run", "poly", *ARGS, "--memory-limit-gb", "0.000001", "--out", str(out)])
    assert rc == 2 and "memory_limit" in err
    assert not out.exists()
    with pytest.raises(gj.ConfigError, match="memory_limit"):
        gj.run_sweep(gj.PolyConfig(D=8, N=16, P=24, steps=10, n_log=2), memory_limit=10)


def test_checkpoint_of_another_sweep_is_not_mixed_in(tmp_path):
    base = gj.PolyConfig(**CHECKPOINT_LAYOUT)  # tests/test_checkpoints.py's compiled program
    gj.run_sweep(base, {"alpha": [1.0, 2.0]}, checkpoint_dir=tmp_path)
    with pytest.raises(gj.ConfigError, match="checkpoint_dir"):
        gj.run_sweep(base, {"alpha": [1.0, 3.0]}, checkpoint_dir=tmp_path)


# one process end to end by default; the other fields are refused in-process by tests/test_bad_input.py (-m slow here)
@pytest.mark.parametrize("args,field", [(["--alpha", "0"], "alpha")] + [
    pytest.param(a, f, marks=pytest.mark.slow)
    for a, f in ((["--P", "0"], "P"), (["--N", "0"], "N"), (["--steps", "-3"], "steps"),
                 (["--optimizer", "sgdx"], "optimizer"))])
def test_bad_input_exits_2_naming_the_field(tmp_path, args, field):
    out = tmp_path / "bad.nc"
    result = _grokjax([*args, "--out", str(out)])
    assert result.returncode == 2, result.stderr
    assert f"'{field}'" in result.stderr
    assert not out.exists()


def test_unknown_task_figure_and_malformed_config_exit_2(tmp_path):
    for args in (["run", "nope"], ["figure", "nope"]):
        rc, err = _in_process(args)
        assert rc == 2 and "invalid value for" in err
    bad = tmp_path / "bad.json"
    bad.write_text("{alpha: ")
    rc, err = _in_process(["run", "poly", "--config", str(bad)])
    assert rc == 2 and "'config'" in err
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"alphaa": [1.0]}')
    rc, err = _in_process(["run", "poly", "--config", str(unknown)])
    assert rc == 2 and "'alphaa'" in err
    good = tmp_path / "good.json"
    good.write_text('{"alpha": [0.0]}')
    rc, err = _in_process(["run", "poly", "--config", str(good)])
    assert rc == 2 and "'alpha'" in err
