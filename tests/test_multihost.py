"""Multi-host runs through ``jax.distributed``: two CPU processes (gloo collectives) on one machine split the chunks
of :func:`grokjax.run_sweep` and :func:`grokjax.run_model` (``i % process_count == process_index``), exchange
them with JAX's collectives, and every process returns exactly the single-process result. The checkpoint folder
the two processes shared then resumes a single-process run with nothing recomputed."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

WORKER = textwrap.dedent('''
    import sys
    import numpy as np
    import jax
    pid, port, out, ckpt = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    if pid >= 0:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=2, process_id=pid)
    import jax.numpy as jnp
    import grokjax

    base = grokjax.PolyConfig(D=8, N=16, P=20, P_test=50, steps=20, n_log=5)
    sweep = grokjax.run_sweep(base, {"alpha": [1.0, 2.0, 4.0]}, seeds=[0, 1], chunk_size=2)

    def init(key):
        return {"w": jax.random.normal(key, (3, 4)), "v": jax.random.normal(jax.random.fold_in(key, 1), (4,))}

    def apply(p, x):
        return jnp.tanh(x @ p["w"]) @ p["v"]

    x = np.random.default_rng(0).normal(size=(30, 3))
    y = np.sin(x[:, 0])
    model = grokjax.Model(apply=apply, init=init, data=grokjax.Data(x[:20], y[:20], x[20:], y[20:]))
    config = grokjax.LazyRichConfig(alpha=(1.0, 2.0, 3.0), seed=(0, 1), steps=30, log_points=5, chunk_size=2,
                                    checkpoint_dir=ckpt)
    ds = grokjax.run_model(model, config)
    np.savez(f"{out}_{pid}.npz", sweep=sweep["test_loss"].values, model=ds["test_loss"].values,
             lin=ds["lin_test_loss"].values, processes=sweep.attrs["processes"])
''')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def test_two_processes_equal_one(tmp_path: Path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}
    port, out = str(_free_port()), str(tmp_path / "r")
    shared = str(tmp_path / "ckpt_shared")
    procs = [subprocess.Popen([sys.executable, str(script), str(pid), port, out, shared], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for pid in (0, 1)]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    # a single process resuming from the folder both processes wrote: every chunk verified and reused
    computed = (Path(shared) / "computed.log").read_text().splitlines()
    assert sorted(int(line.split()[0]) for line in computed) == [0, 1, 2]  # 6 configs, chunks of 2: one each
    single = subprocess.run([sys.executable, str(script), "-1", "0", out, shared], env=env, capture_output=True,
                            text=True, timeout=300)
    assert single.returncode == 0, single.stderr
    assert (Path(shared) / "computed.log").read_text().splitlines() == computed  # nothing recomputed
    fresh = subprocess.run([sys.executable, str(script), "-2", "0", out, str(tmp_path / "ckpt_fresh")], env=env,
                           capture_output=True, text=True, timeout=300)
    assert fresh.returncode == 0, fresh.stderr
    ref = np.load(f"{out}_-2.npz")
    assert int(ref["processes"]) == 1
    for pid in (0, 1, -1):
        got = np.load(f"{out}_{pid}.npz")
        assert int(got["processes"]) == (2 if pid >= 0 else 1)
        for key in ("sweep", "model", "lin"):
            np.testing.assert_array_equal(got[key], ref[key], err_msg=f"process {pid}: {key}")
