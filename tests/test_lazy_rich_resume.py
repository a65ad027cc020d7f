"""grokjax.run_model with a checkpoint folder: SIGKILL in the middle, rerun, same dataset as uninterrupted; and
sharded over two (emulated) devices, same dataset as on one."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

SCRIPT = textwrap.dedent("""
    import sys
    import jax, jax.numpy as jnp
    import grokjax as gj

    def init(key):
        k1, k2 = jax.random.split(key)
        return {"W": jax.random.normal(k1, (16, 3)), "v": jax.random.normal(k2, (16, 2))}

    def apply(p, x):
        return jnp.tanh(x @ p["W"].T) @ p["v"] / 16

    X = jax.random.normal(jax.random.PRNGKey(0), (40, 3))
    Y = jnp.stack([jnp.sin(X[:, 0]), X[:, 1] * X[:, 2]], axis=1)
    model = gj.Model(apply, init, gj.Data(X[:30], Y[:30], X[30:], Y[30:]), name="resume-test")

    def run(checkpoint_dir=""):
        cfg = gj.LazyRichConfig(alpha=(0.5, 1.0, 2.0, 4.0), seed=(0, 1), steps=int(sys.argv[2]), log_points=10,
                                chunk_size=1, kernel_points=5, checkpoint_dir=checkpoint_dir)
        return gj.run_model(model, cfg)

    if __name__ == "__main__":
        ds = run(sys.argv[1])
        gj.save_dataset(ds, sys.argv[3], overwrite=True)
""")


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    script = tmp_path / "resume_run.py"
    script.write_text(SCRIPT)
    ckpt = tmp_path / "ckpt"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    steps = "3000"
    proc = subprocess.Popen([sys.executable, str(script), str(ckpt), steps, str(tmp_path / "killed.nc")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline and len(list(ckpt.glob("chunk_*.npz"))) < 2 and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1][-2000:].decode()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted(ckpt.glob("chunk_*.npz"))
    assert 2 <= len(done) < 8, done
    mtimes = {p.name: p.stat().st_mtime_ns for p in done}
    for out, folder in (("resumed.nc", str(ckpt)), ("plain.nc", "")):
        subprocess.run([sys.executable, str(script), folder, steps, str(tmp_path / out)], env=env, check=True,
                       capture_output=True)
    assert all((ckpt / name).stat().st_mtime_ns == t for name, t in mtimes.items())  # finished chunks reused
    import grokjax as gj

    resumed, plain = gj.load_dataset(tmp_path / "resumed.nc"), gj.load_dataset(tmp_path / "plain.nc")
    for name in plain.data_vars:
        np.testing.assert_array_equal(resumed[name].values, plain[name].values, err_msg=name)


SHARDED = textwrap.dedent("""
    import sys
    import jax, jax.numpy as jnp, numpy as np
    import grokjax as gj

    assert len(jax.local_devices()) == int(sys.argv[2]), jax.local_devices()

    def init(key):
        k1, k2 = jax.random.split(key)
        return {"W": jax.random.normal(k1, (16, 3)), "v": jax.random.normal(k2, (16, 2))}

    def apply(p, x):
        return jnp.tanh(x @ p["W"].T) @ p["v"] / 16

    X = jax.random.normal(jax.random.PRNGKey(0), (40, 3))
    Y = jnp.stack([jnp.sin(X[:, 0]), X[:, 1] * X[:, 2]], axis=1)
    model = gj.Model(apply, init, gj.Data(X[:30], Y[:30], X[30:], Y[30:]))
    cfg = gj.LazyRichConfig(alpha=(0.5, 1.0, 2.0), seed=(0, 1, 2), steps=50, log_points=6, kernel_points=5)
    ds = gj.run_model(model, cfg)
    np.savez(sys.argv[1], **{k: ds[k].values for k in ds.data_vars}, chunk=ds.attrs["chunk_size"])
""")


@pytest.mark.slow
def test_sharded_over_two_devices_equals_one_device(tmp_path):
    script = tmp_path / "sharded.py"
    script.write_text(SHARDED)
    results = {}
    for n in (1, 2):
        env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": f"--xla_force_host_platform_device_count={n}"}
        out = tmp_path / f"d{n}.npz"
        subprocess.run([sys.executable, str(script), str(out), str(n)], env=env, check=True, capture_output=True)
        results[n] = dict(np.load(out))
    assert results[2]["chunk"] == 10  # 9 configurations padded to a multiple of 2 devices
    for name in results[1]:
        if name != "chunk":
            np.testing.assert_allclose(results[2][name], results[1][name], rtol=1e-5, atol=1e-6, err_msg=name)
