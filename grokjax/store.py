"""Labelled result datasets: one ``xarray.Dataset`` per sweep, saved atomically as netCDF (HDF5).

Every saved dataset carries, as attributes, the full configuration (JSON), the conventions, the engine, the
package versions and the device it ran on, and every variable its ``long_name``, ``units`` and ``description``
(:mod:`grokjax._metadata`), so a result file explains itself. Files are written to a temporary name in the same
folder and moved into place with ``os.replace`` (atomic on POSIX): a killed run never leaves a half file.

Safe writes: an existing output is refused unless ``overwrite=True``; :func:`check_writable` finds a path that
cannot be written before any compute; an exclusive file lock (``filelock``) next to the output
(``.NAME.lock``) or inside a checkpoint folder (``.lock``) makes a second concurrent writer fail at once with
:class:`ConcurrentWriteError` instead of racing the first.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import xarray as xr

from grokjax._errors import ConfigError
from grokjax._metadata import annotate

__all__ = ["save_dataset", "load_dataset", "provenance", "config_to_json", "atomic_write_bytes", "check_writable",
           "output_lock", "folder_lock", "ConcurrentWriteError"]


class ConcurrentWriteError(ConfigError):
    """Another process holds the lock of this output file or checkpoint folder."""


def check_writable(path: str | Path, field: str = "out", *, overwrite: bool = False, directory: bool = False) -> Path:
    """Raise :class:`ConfigError` naming ``field`` unless ``path`` can be written; touches nothing.

    Refused: ``path`` is a folder (or, with ``directory=True``, a file), exists and ``overwrite`` is false
    (files only), an ancestor is a file, or the nearest existing ancestor is not a writable folder (missing
    folders below it are created on write).
    """
    path = Path(path)
    if directory:
        if path.exists() and not path.is_dir():
            raise ConfigError(field, f"{path} is a file, not a folder")
    elif path.is_dir():
        raise ConfigError(field, f"{path} is a folder; give a file name")
    elif path.exists() and not overwrite:
        raise ConfigError(field, f"{path} already exists; pass overwrite (--overwrite) to replace it")
    parent = path if directory and path.exists() else path.parent
    while not parent.exists():
        if parent.is_symlink():  # dangling link
            raise ConfigError(field, f"{parent} is a broken symbolic link")
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(field, f"cannot write {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(field, f"cannot write {path}: folder {parent} is not writable")
    return path


_HELD: dict[str, list] = {}  # lock path -> [FileLock, depth] for the locks this process holds


@contextlib.contextmanager
def _exclusive(lock_path: Path, field: str, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (re-entrant within this process), or fail at once.

    The lock file is removed while still held, just before release, so none is left behind; a process that
    opened it meanwhile finds the unlinked inode and does not take the lock (filelock checks st_nlink).
    """
    from filelock import FileLock, Timeout

    key = str(lock_path.resolve())
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield
        finally:
            _HELD[key][1] -= 1
        return
    lock = FileLock(key, timeout=0, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        # filelock also reports a lock file it cannot create (e.g. a folder that only looks writable, such as
        # /proc for root) as "held": probe the file, so that case reads "cannot write", not "another process"
        try:
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise ConcurrentWriteError(field, f"another process is writing {what} (lock {lock_path} is held); "
                                       "wait for it or choose another path") from None
        except OSError as exc:
            raise ConfigError(field, f"cannot write {what}: cannot create {lock_path} ({exc.strerror})") from None
        os.close(fd)
        os.unlink(key)
        raise ConcurrentWriteError(field, f"could not lock {lock_path} for {what}; try again or choose another "
                                   "path") from None
    _HELD[key] = [lock, 1]
    try:
        yield
    finally:
        del _HELD[key]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(key)
        lock.release()


@contextlib.contextmanager
def output_lock(path: str | Path, field: str = "out") -> Iterator[Path]:
    """Exclusive lock on the output ``path`` (file ``.NAME.lock`` beside it) for a whole run: hold it from
    before the compute until the file is saved, so a second writer of the same output is refused up front."""
    from grokjax._interrupt import make_dirs

    path = Path(path)
    make_dirs(path.parent)  # removed on interrupt if still empty
    with _exclusive(path.parent / f".{path.name}.lock", field, str(path)):
        yield path


@contextlib.contextmanager
def folder_lock(folder: str | Path, field: str = "checkpoint_dir", *, name: str = ".lock") -> Iterator[Path]:
    """Exclusive lock on a checkpoint ``folder`` (file ``name``, ``.lock`` by default, inside it), so two runs
    never share one; :func:`grokjax.run_sweep` holds it for its whole checkpoint/resume loop."""
    from grokjax._interrupt import make_dirs

    folder = make_dirs(folder)  # removed on interrupt if still empty
    with _exclusive(folder / name, field, f"checkpoints into {folder}"):
        yield folder


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray) or hasattr(value, "__array__") and not np.isscalar(value):
        return np.asarray(value).tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def config_to_json(config: Any) -> str:
    """Serialise a (possibly nested) frozen-dataclass config to JSON."""
    return json.dumps(_jsonable(config), sort_keys=True)


def provenance() -> dict[str, str]:
    """Package versions and the device this process computes on."""
    import jax

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ("jax", "jaxlib", "optax", "equinox", "numpy", "xarray"):
        try:
            module = __import__(name)
            out[f"version_{name}"] = getattr(module, "__version__", "unknown")
        except ImportError:  # pragma: no cover - optional
            out[f"version_{name}"] = "missing"
    try:
        from importlib.metadata import version

        out["version_grokjax"] = version("grokjax")
    except Exception:  # pragma: no cover - not installed
        out["version_grokjax"] = "source"
    devices = jax.devices()
    out["device"] = f"{len(devices)}x {devices[0].device_kind} ({devices[0].platform})"
    return out


@contextlib.contextmanager
def _atomic_target(path: Path) -> Iterator[str]:
    """A temporary file name in ``path``'s folder to write to; renamed onto ``path`` if the block succeeds,
    removed if it fails (so a killed or failed write never leaves a half file at ``path``)."""
    from grokjax import _interrupt

    _interrupt.make_dirs(path.parent)  # removed on interrupt if still empty
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    _interrupt.track(tmp)  # removed if the process is interrupted (SIGINT / SIGTERM) while writing
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    finally:
        _interrupt.untrack(tmp)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    with _atomic_target(Path(path)) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _engine(ds: xr.Dataset, config: Any) -> str:
    if "engine" in ds.attrs:
        return str(ds.attrs["engine"])
    from grokjax._config import PolyConfig, choose_engine

    if isinstance(config, PolyConfig):
        return choose_engine(config)
    return "weights (parameter-space training)" if "task" in ds.attrs else "not recorded"


def netcdf_engine() -> str:
    """The xarray backend :func:`save_dataset` writes with: ``"h5netcdf"`` (netCDF4/HDF5, the default, a declared
    dependency) or, where h5netcdf is not importable (e.g. a GPU image that lacks it), ``"scipy"`` (netCDF3
    classic; int64 values that fit are stored as int32). :func:`load_dataset` reads either."""
    import importlib.util

    for name, module in (("h5netcdf", "h5netcdf"), ("scipy", "scipy.io")):
        try:
            if importlib.util.find_spec(module) is not None:
                __import__(module)
                return name
        except ImportError:
            continue
    raise ConfigError("out", "cannot write a netCDF dataset: neither h5netcdf nor scipy is importable "
                      "(pip install h5netcdf)")


def save_dataset(ds: xr.Dataset, path: str | Path, config: Any = None, *, overwrite: bool = False,
                 **extra_attrs: Any) -> Path:
    """Save ``ds`` atomically to ``path`` (netCDF via :func:`netcdf_engine`) with config and provenance attributes.

    Every variable gets long_name / units / description (:func:`grokjax._metadata.annotate`); ``ds.attrs``
    gets ``conventions``, ``engine``, versions and device. An existing ``path`` is refused
    (:class:`ConfigError` on field ``out``) unless ``overwrite``; a concurrent writer of the same path is
    refused (:class:`ConcurrentWriteError`).
    """
    path = check_writable(path, "out", overwrite=overwrite)
    ds = annotate(ds, task=extra_attrs.get("task"), figure=extra_attrs.get("figure"))
    attrs = dict(ds.attrs)
    if config is not None:
        attrs["config"] = config_to_json(config)
        convention = getattr(config, "convention", None)
        if convention is not None:
            attrs.setdefault("data_convention", str(convention))
    attrs["engine"] = _engine(ds, config)
    attrs.update(provenance())
    for key, value in extra_attrs.items():
        attrs[key] = value if isinstance(value, (str, int, float)) else json.dumps(_jsonable(value))
    ds.attrs = {k: (json.dumps(_jsonable(v)) if isinstance(v, (dict, list, tuple, bool)) else v)
                for k, v in attrs.items()}
    with output_lock(path):
        check_writable(path, "out", overwrite=overwrite)  # again under the lock: another writer may have won
        with _atomic_target(path) as tmp:
            ds.to_netcdf(tmp, engine=netcdf_engine())
    return path


def _read_engine(path: str | Path) -> str:
    """The backend for a file written by :func:`save_dataset`: netCDF3 (magic ``CDF``) -> scipy, else h5netcdf."""
    with open(path, "rb") as handle:
        return "scipy" if handle.read(3) == b"CDF" else "h5netcdf"


def load_dataset(path: str | Path) -> xr.Dataset:
    """Load a dataset written by :func:`save_dataset` fully into memory; ``ds.attrs['config']`` is a dict."""
    with xr.open_dataset(path, engine=_read_engine(path)) as handle:
        ds = handle.load()
    if isinstance(ds.attrs.get("config"), str):
        ds.attrs["config"] = json.loads(ds.attrs["config"])
    return ds
