"""Safe writes: existing outputs refused unless overwrite, paths checked before compute, concurrent writers locked."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import xarray as xr

import grokjax as gj
from grokjax.store import ConcurrentWriteError, check_writable, folder_lock, output_lock
from grokjax._errors import ConfigError


def _ds(value=0.0):
    return xr.Dataset({"train_loss": ("step", np.arange(3.0) + value)}, coords={"step": [0, 1, 2]})


def _listing(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_existing_output_is_refused_unless_overwrite(tmp_path):
    path = tmp_path / "r.nc"
    gj.save_dataset(_ds(), path)
    with pytest.raises(gj.ConfigError, match="already exists") as err:
        gj.save_dataset(_ds(5.0), path)
    assert err.value.field == "out"
    np.testing.assert_array_equal(gj.load_dataset(path)["train_loss"].values, np.arange(3.0))
    gj.save_dataset(_ds(5.0), path, overwrite=True)
    np.testing.assert_array_equal(gj.load_dataset(path)["train_loss"].values, np.arange(3.0) + 5)
    assert _listing(tmp_path) == ["r.nc"]  # no temporary or lock file left behind


@pytest.mark.parametrize("case", ["directory", "shadowed", "shadowed_deep", "exists", "readonly"])
def test_check_writable_refuses_unwritable_paths_and_creates_nothing(tmp_path, monkeypatch, case):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    (tmp_path / "adir" / "old.nc").write_text("x")
    path = {"directory": tmp_path / "adir", "shadowed": tmp_path / "afile" / "r.nc",
            "shadowed_deep": tmp_path / "afile" / "sub" / "r.nc", "exists": tmp_path / "adir" / "old.nc",
            "readonly": tmp_path / "adir" / "new" / "r.nc"}[case]
    if case == "readonly":
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(tmp_path / "adir")
                            else real_access(p, mode))
    before = _listing(tmp_path)
    with pytest.raises(gj.ConfigError) as err:
        check_writable(path, "out")
    assert err.value.field == "out" and str(path) in str(err.value)
    with pytest.raises(gj.ConfigError):  # save_dataset runs the same check
        gj.save_dataset(_ds(), path)
    assert _listing(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only folder")
def test_check_writable_refuses_a_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(gj.ConfigError, match="not writable"):
            check_writable(ro / "sub" / "r.nc", "out")
    finally:
        ro.chmod(0o755)


def test_check_writable_accepts_missing_folders_and_checkpoint_dirs(tmp_path):
    assert check_writable(tmp_path / "new" / "deeper" / "r.nc") == tmp_path / "new" / "deeper" / "r.nc"
    check_writable(tmp_path / "ckpt", "checkpoint_dir", directory=True)
    (tmp_path / "ckpt_file").write_text("x")
    with pytest.raises(gj.ConfigError, match="is a file") as err:
        check_writable(tmp_path / "ckpt_file", "checkpoint_dir", directory=True)
    assert err.value.field == "checkpoint_dir"
    assert _listing(tmp_path) == ["ckpt_file"]
    gj.save_dataset(_ds(), tmp_path / "new" / "deeper" / "r.nc")  # missing folders are created on write


def _holder(code):
    """A second process that takes a lock, says 'held', and keeps it until its stdin closes."""
    script = textwrap.dedent(f"""
        import sys
        from grokjax.store import folder_lock, output_lock
        with {code}:
            print("held", flush=True)
            sys.stdin.read()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_concurrent_writer_of_one_output_or_checkpoint_folder_is_refused(tmp_path):
    path, ckpt = tmp_path / "r.nc", tmp_path / "ckpt"
    proc = _holder(f"output_lock({str(path)!r}), folder_lock({str(ckpt)!r})")
    try:
        with pytest.raises(ConcurrentWriteError, match="another process") as err:
            gj.save_dataset(_ds(), path)
        assert err.value.field == "out" and isinstance(err.value, gj.ConfigError)
        with pytest.raises(ConcurrentWriteError) as err:
            with folder_lock(ckpt):
                pass
        assert err.value.field == "checkpoint_dir"
        assert not path.exists()
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    gj.save_dataset(_ds(), path)  # free again once the other writer is done
    with folder_lock(ckpt):
        pass
    assert _listing(tmp_path) == ["ckpt", "r.nc"]  # lock files removed on release


def test_lock_is_reentrant_within_one_process(tmp_path):
    path = tmp_path / "r.nc"
    with output_lock(path):  # e.g. the CLI holds it for the whole run, then saves
        gj.save_dataset(_ds(), path)
        with output_lock(path):
            pass
    assert _listing(tmp_path) == ["r.nc"]


def test_two_processes_racing_for_one_new_output_one_wins(tmp_path):
    """Both processes import grokjax, meet at a file barrier, then save to the same new path at once."""
    out, barrier = tmp_path / "out", tmp_path / "barrier"
    out.mkdir()
    barrier.mkdir()
    path = out / "r.nc"
    script = textwrap.dedent(f"""
        import pathlib, sys, time
        import numpy as np, xarray as xr
        import grokjax as gj
        barrier = pathlib.Path({str(barrier)!r})
        (barrier / sys.argv[1]).touch()
        deadline = time.time() + 120
        while len(list(barrier.iterdir())) < 2 and time.time() < deadline:
            time.sleep(0.001)
        ds = xr.Dataset({{"train_loss": ("step", np.full(3, float(sys.argv[1])))}}, coords={{"step": [0, 1, 2]}})
        try:
            gj.save_dataset(ds, {str(path)!r})
            print("saved")
        except gj.ConfigError as err:
            print("refused", err.field)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(i)], stdout=subprocess.PIPE, text=True)
             for i in range(2)]
    outs = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert outs == ["refused out", "saved"], outs
    assert _listing(out) == ["r.nc"]


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_lock_that_cannot_be_created_is_not_reported_as_held():
    """/proc passes os.access for root but takes no new files: the refusal says 'cannot write', naming the
    field, and not that another process holds the lock."""
    with pytest.raises(ConfigError, match="cannot write") as err:
        with output_lock("/proc/grokjax-x.nc"):
            pass
    assert not isinstance(err.value, ConcurrentWriteError) and "'out'" in str(err.value)
