"""Input files are checked: MNIST IDX folders (magic numbers, shapes, counts, label range, enough points: which
file is wrong) and ``figure NAME --from FILE`` datasets (variables / dims it was saved with, empty steps,
strings, curves with no finite value) are refused with exit 2 before any compute, nothing written."""
import gzip
import json
import shutil

import numpy as np
import pytest
import xarray as xr

from grokjax.cli import main
from grokjax.data import mnist as M


def _mnist(folder, n_train=30, n_test=12, gz=False):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    M.write_idx(folder / f"train-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8))
    M.write_idx(folder / f"train-labels-idx1-ubyte{suffix}", (np.arange(n_train) % 10).astype(np.uint8))
    M.write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8))
    M.write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", (np.arange(n_test) % 10).astype(np.uint8))
    return folder


def _truncate(path):
    path.write_bytes(path.read_bytes()[:-100])


def _bad_magic(path):
    data = bytearray(path.read_bytes())
    data[0] = 7
    path.write_bytes(bytes(data))


def _swap_files(path):  # a label file where the images go
    shutil.copyfile(path.parent / "train-labels-idx1-ubyte", path)


def _labels_out_of_range(path):
    M.write_idx(path, (np.arange(30) % 12).astype(np.uint8))


def _count_mismatch(path):
    M.write_idx(path, (np.arange(29) % 10).astype(np.uint8))


def _empty(path):
    path.write_bytes(b"")


def _wrong_shape(path):
    M.write_idx(path, np.zeros((30, 14, 14), dtype=np.uint8))


def _header_only(path):
    path.write_bytes(path.read_bytes()[:6])


@pytest.mark.parametrize("damage, target, words", [
    (_truncate, "train-images-idx3-ubyte", "truncated"), (_bad_magic, "t10k-labels-idx1-ubyte", "magic"),
    (_swap_files, "train-images-idx3-ubyte", "a label file"), (_labels_out_of_range, "train-labels-idx1-ubyte", "0..9"),
    (_count_mismatch, "train-labels-idx1-ubyte", "29 labels"), (_empty, "t10k-images-idx3-ubyte", "4-byte magic"),
    (_wrong_shape, "train-images-idx3-ubyte", "(n, 28, 28)"), (_header_only, "t10k-images-idx3-ubyte", "header"),
    (lambda p: p.unlink(), "train-labels-idx1-ubyte", "has no train-labels"),
])
def test_bad_idx_file_is_named_and_refused_before_compute(tmp_path, capsys, damage, target, words):
    folder = _mnist(tmp_path / "mnist")
    damage(folder / target)
    out = tmp_path / "out" / "m.nc"
    rc = main(["run", "mnist", "--data", str(folder), "--n-train", "10", "--n-test", "5", "--steps", "2",
               "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "'data'" in err and words in err, err
    if target != "train-labels-idx1-ubyte" or "has no" not in words:
        assert target in err  # the file that is wrong is named
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_corrupt_gzip_and_empty_folder_are_refused(tmp_path, capsys):
    folder = _mnist(tmp_path / "gz", gz=True)
    data = (folder / "t10k-images-idx3-ubyte.gz").read_bytes()
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(M.IDXError, match="t10k-images.*cannot be read"):
        M.load_mnist_idx_dir(folder)
    (tmp_path / "empty").mkdir()
    rc = main(["run", "mnist", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "o.nc"), "--quiet"])
    assert rc == 2 and "has no train-images" in capsys.readouterr().err


@pytest.mark.parametrize("flags, field", [(["--n-train", "31"], "n_train"), (["--n-train", "10", "--n-test", "13"], "n_test")])
def test_more_points_than_the_files_hold_is_refused(tmp_path, capsys, flags, field):
    folder = _mnist(tmp_path / "mnist")
    rc = main(["run", "mnist", "--data", str(folder), *flags, "--out", str(tmp_path / "o.nc"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and f"'{field}'" in err and "holds" in err, err
    with pytest.raises(M.ConfigError) as info:
        M.load_mnist(str(folder), n_train=31, n_test=5)
    assert info.value.field == "n_train"
    x, y, xt, yt = M.load_mnist(str(folder), n_train=30, n_test=12)  # exactly what is there: fine
    assert x.shape == (30, 784) and yt.shape == (12,)


# ------------------------------------------------------------------------------------------------- figure --from
FIGURE = "app12"


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """The tiny run of FIGURE: (its dataset, what it printed)."""
    import contextlib
    import io

    out, printed = tmp_path_factory.mktemp("fig"), io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["figure", FIGURE, "--size", "tiny", "--out", str(out), "--quiet"]) == 0
    return out / "data" / f"{FIGURE}.nc", printed.getvalue()


@pytest.fixture(scope="module")
def saved(saved_run):
    return saved_run[0]


def _resave(ds, path):
    ds = ds.copy()
    ds.attrs = {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in ds.attrs.items()}
    ds.to_netcdf(path, engine="h5netcdf")
    return path


def _curve(ds):
    return next(n for n, v in ds.data_vars.items() if "step" in v.dims and v.dtype.kind == "f")


@pytest.mark.parametrize("damage, words", [
    (lambda ds: ds.drop_vars(_curve(ds)), "is missing"),
    (lambda ds: ds.isel(step=slice(0, 0)), "axis is empty"),
    (lambda ds: ds.assign({_curve(ds): ds[_curve(ds)] * np.nan}), "no finite value"),
    (lambda ds: ds.assign({_curve(ds): ds[_curve(ds)].astype(str)}), "where numbers were saved"),
    (lambda ds: ds.assign({_curve(ds): ds[_curve(ds)].isel(step=0)}), "has dims"),
])
def test_figure_from_a_damaged_dataset_is_refused(saved, tmp_path, capsys, damage, words):
    from grokjax.store import load_dataset

    damaged = _resave(damage(load_dataset(saved)), tmp_path / "d.nc")
    out = tmp_path / "figs"
    rc = main(["figure", FIGURE, "--from", str(damaged), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "'from'" in err and words in err, err
    assert "Traceback" not in err and not out.exists()


def test_figure_from_the_intact_dataset_still_judges(saved, tmp_path, capsys):
    from grokjax.store import load_dataset

    copy = _resave(load_dataset(saved), tmp_path / "ok.nc")
    assert main(["figure", FIGURE, "--from", str(copy), "--out", str(tmp_path / "figs")]) == 0
    assert f"[{FIGURE}]" in capsys.readouterr().out


def test_figure_from_rejudges_the_saved_run_without_computing(saved_run, capsys, monkeypatch):
    """The appendix studies' case of tests/test_figure_from.py (its default run is this file's tiny run)."""
    from _cli import assert_from_rejudges_without_computing

    from grokjax.figures import find_module

    data, printed = saved_run
    assert f"wrote {data}" in printed
    assert_from_rejudges_without_computing(FIGURE, find_module(FIGURE), data, data.parent.parent, printed, capsys,
                                           monkeypatch)


def test_gzip_module_is_used_for_gz(tmp_path):  # the .gz reader stays the standard one
    path = M.write_idx(tmp_path / "x.gz", np.arange(4, dtype=np.uint8))
    assert gzip.decompress(path.read_bytes())[:4] == bytes([0, 0, 8, 1])
    assert xr is not None
