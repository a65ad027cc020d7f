"""Checkpoints that prove what they hold: a matrix of damaged checkpoint folders (corrupt / truncated / empty /
swapped / foreign / old-format / tampered chunk, corrupt / empty / truncated manifest, changed chunk size, changed
configuration). Each case is either recomputed (one warning line per bad file, only that chunk recomputed) or
refused (ConfigError on checkpoint_dir, exit 2), and every resumed dataset equals an uninterrupted run."""
import io
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from _layouts import CHECKPOINT_LAYOUT, layout_flags

import grokjax as gj
from grokjax._errors import CheckpointWarning

ROOT = Path(__file__).resolve().parents[1]
BASE = CHECKPOINT_LAYOUT
SWEEP = {"alpha": [1.0, 2.0, 4.0]}
SEEDS = [0, 1]  # 6 configurations, chunks of 2: three chunks


def _run(ckpt, sweep=SWEEP, chunk_size=2, **base):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = gj.run_sweep(gj.PolyConfig(**{**BASE, **base}), sweep, SEEDS, chunk_size=chunk_size, checkpoint_dir=ckpt)
    return ds, [str(w.message) for w in caught if issubclass(w.category, CheckpointWarning)]


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """A finished checkpoint folder and the dataset of an uninterrupted run without checkpoints."""
    folder = tmp_path_factory.mktemp("ck") / "full"
    ds, caught = _run(folder)
    assert caught == [] and sorted(p.name for p in folder.glob("chunk_*.npz")) == [
        "chunk_00000.npz", "chunk_00001.npz", "chunk_00002.npz"]
    reference = gj.run_sweep(gj.PolyConfig(**BASE), SWEEP, SEEDS, chunk_size=2)
    _assert_same(ds, reference)
    return folder, reference


def _assert_same(a, b):
    for name in (*gj.METRICS, "kr_test_loss", "diverged_step", "lazy_diverged_step"):
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


def _computed(folder):
    return [int(line.split()[0]) for line in (folder / "computed.log").read_text().splitlines()]


def _copy(full, tmp_path):
    folder = tmp_path / "ck"
    shutil.copytree(full[0], folder)
    return folder


def _corrupt(path):
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(64)
    path.write_bytes(bytes(data))


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _empty(path):
    path.write_bytes(b"")


def _swap(path):
    shutil.copyfile(path.parent / "chunk_00000.npz", path)


def _old_format(path):  # a chunk written before chunks recorded what they hold
    with np.load(path) as archive:
        data = {k: archive[k] for k in archive.files if not k.startswith("__")}
    buffer = io.BytesIO()
    np.savez(buffer, **data)
    path.write_bytes(buffer.getvalue())


def _tamper(path):  # a valid archive whose numbers were changed: only the content hash can tell
    with np.load(path) as archive:
        data = {k: archive[k] for k in archive.files}
    data["test_loss"] = data["test_loss"] * 2
    buffer = io.BytesIO()
    np.savez(buffer, **data)
    path.write_bytes(buffer.getvalue())


def _garbage(path):
    path.write_bytes(os.urandom(300))


@pytest.mark.parametrize("damage, reason", [
    (_corrupt, "unreadable|content hash|does not record"), (_truncate, "unreadable"), (_empty, "unreadable"),
    (_swap, "holds chunk 0"), (_old_format, "does not record"), (_tamper, "content hash"), (_garbage, "unreadable"),
])
def test_bad_chunk_is_recomputed_with_one_warning(full, tmp_path, damage, reason):
    folder = _copy(full, tmp_path)
    before = _computed(folder)
    damage(folder / "chunk_00001.npz")
    ds, caught = _run(folder)
    assert len(caught) == 1, caught
    assert "chunk_00001.npz" in caught[0] and "recomputing" in caught[0]
    import re

    assert re.search(reason, caught[0]), caught[0]
    assert _computed(folder) == before + [1]  # only the bad chunk was computed again
    _assert_same(ds, full[1])
    _, again = _run(folder)  # and the recomputed chunk now proves itself
    assert again == [] and _computed(folder) == before + [1]


def test_chunk_of_another_sweep_is_recomputed(full, tmp_path):
    other = tmp_path / "other"
    _run(other, sweep={"alpha": [1.0, 2.0, 8.0]})  # same layout, another configuration
    folder = _copy(full, tmp_path)
    shutil.copyfile(other / "chunk_00001.npz", folder / "chunk_00001.npz")
    ds, caught = _run(folder)
    assert len(caught) == 1 and "another sweep" in caught[0]
    _assert_same(ds, full[1])


def test_missing_chunk_is_recomputed_silently(full, tmp_path):
    folder = _copy(full, tmp_path)
    (folder / "chunk_00002.npz").unlink()
    ds, caught = _run(folder)
    assert caught == [] and _computed(folder)[-1] == 2
    _assert_same(ds, full[1])


@pytest.mark.parametrize("content", [b"", b"{\"fingerprint\": \"ab", b"\xff\xfe garbage", b"[1, 2]",
                                     b"{\"fingerprint\": 3}", b"{\"fingerprint\": \"x\", \"chunk_size\": -1}"])
def test_bad_manifest_is_rewritten_and_chunks_still_checked(full, tmp_path, content):
    folder = _copy(full, tmp_path)
    before = _computed(folder)
    (folder / "manifest.json").write_bytes(content)
    ds, caught = _run(folder)
    assert len(caught) == 1 and "manifest.json" in caught[0], caught
    assert _computed(folder) == before  # every chunk proved itself: nothing recomputed
    _assert_same(ds, full[1])
    assert json.loads((folder / "manifest.json").read_text())["chunk_size"] == 2


def test_bad_manifest_and_swapped_chunk_together(full, tmp_path):
    folder = _copy(full, tmp_path)
    (folder / "manifest.json").write_text("{")
    _swap(folder / "chunk_00002.npz")
    ds, caught = _run(folder)
    assert len(caught) == 2 and _computed(folder)[-1] == 2
    _assert_same(ds, full[1])


def test_changed_chunk_size_is_refused_naming_checkpoint_dir(full, tmp_path):
    folder = _copy(full, tmp_path)
    with pytest.raises(gj.ConfigError, match="chunk-size 2") as err:
        _run(folder, chunk_size=3)
    assert err.value.field == "checkpoint_dir"
    before = _computed(folder)
    ds, caught = _run(folder, chunk_size=None)  # size left to memory: the folder's layout is adopted
    assert caught == [] and _computed(folder) == before
    _assert_same(ds, full[1])


def test_changed_configuration_is_refused(full, tmp_path):
    folder = _copy(full, tmp_path)
    for change in ({"eps": 0.5}, {"steps": 300}):
        with pytest.raises(gj.ConfigError) as err:
            _run(folder, **change)
        assert err.value.field == "checkpoint_dir"
    with pytest.raises(gj.ConfigError):
        _run(folder, sweep={"alpha": [1.0, 2.0, 5.0]})


def test_cli_reports_bad_chunk_in_one_line_and_refuses_changed_chunk_size(tmp_path, capsys):
    """The resumed run with damaged files is the end-to-end process (stderr as a user sees it); the first run and
    the refused one go through the same ``cli.main`` in-process (one interpreter start instead of three)."""
    from grokjax import cli

    # the fixture's sweep and chunk size (BASE, SWEEP, SEEDS, chunks of 2): its compiled chunk program is reused
    args = [*layout_flags(BASE), "--alpha", "1", "2", "4", "--seeds", "0", "1", "--quiet", "--checkpoint-dir",
            str(tmp_path / "ck")]
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    assert cli.main(["run", "poly", *args, "--chunk-size", "2", "--out", str(tmp_path / "a.nc")]) == 0
    _truncate(tmp_path / "ck" / "chunk_00001.npz")
    (tmp_path / "ck" / "manifest.json").write_text("")
    second = subprocess.run([sys.executable, "-m", "grokjax", "run", "poly", *args, "--chunk-size", "2",
                             "--out", str(tmp_path / "b.nc")],
                            env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    warned = [line for line in second.stderr.splitlines() if line.startswith("grokjax: warning:")]
    assert len(warned) == 2 and second.stderr.count("\n") == 2, second.stderr
    assert "Traceback" not in second.stderr
    _assert_same(gj.load_dataset(tmp_path / "a.nc"), gj.load_dataset(tmp_path / "b.nc"))
    capsys.readouterr()
    assert cli.main(["run", "poly", *args, "--out", str(tmp_path / "c.nc"), "--chunk-size", "3"]) == 2
    err = capsys.readouterr().err
    assert "checkpoint_dir" in err and "Traceback" not in err
    assert not (tmp_path / "c.nc").exists()


def test_run_model_checkpoints_prove_what_they_hold_too(tmp_path):
    """The model layer's chunked runs share the same proof (grokjax._checkpoint): a swapped, a truncated and a
    foreign chunk are each recomputed with one warning line, and the result equals a run without checkpoints."""
    import jax
    import jax.numpy as jnp

    def init(key):
        k1, k2 = jax.random.split(key)
        return {"W": jax.random.normal(k1, (8, 3)), "v": jax.random.normal(k2, (8, 1))}

    def apply(p, x):
        return jnp.tanh(x @ p["W"].T) @ p["v"] / 8

    X = jax.random.normal(jax.random.PRNGKey(0), (24, 3))
    Y = jnp.sin(X[:, :1])
    model = gj.Model(apply, init, gj.Data(X[:16], Y[:16], X[16:], Y[16:]), name="ckpt-test")

    def run(folder, alpha=(0.5, 1.0, 2.0)):
        cfg = gj.LazyRichConfig(alpha=alpha, seed=(0,), steps=30, log_points=5, chunk_size=1,
                                checkpoint_dir=str(folder) if folder else "")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = gj.run_model(model, cfg)
        return ds, [str(w.message) for w in caught if issubclass(w.category, CheckpointWarning)]

    plain, _ = run(None)
    folder = tmp_path / "ck"
    first, caught = run(folder)
    assert caught == []
    other = tmp_path / "other"
    run(other, alpha=(0.5, 1.0, 3.0))
    shutil.copyfile(folder / "chunk_00000.npz", folder / "chunk_00001.npz")  # swapped
    _truncate(folder / "chunk_00000.npz")  # truncated
    shutil.copyfile(other / "chunk_00002.npz", folder / "chunk_00002.npz")  # another run's
    again, caught = run(folder)
    assert len(caught) == 3, caught
    for name in plain.data_vars:
        np.testing.assert_array_equal(again[name].values, plain[name].values, err_msg=name)
