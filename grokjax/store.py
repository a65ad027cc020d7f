"""Labelled result datasets: one ``xarray.Dataset`` per sweep, saved atomically as netCDF (HDF5).

Every saved dataset carries, as attributes, the run configuration (JSON, one schema below), the conventions, the
engine, the package versions, the git commit and the device it ran on, and every variable its ``long_name``,
``units`` and ``description`` (:mod:`grokjax._metadata`), so a result file explains itself. Files are written to a
temporary name in the same folder and moved into place with ``os.replace`` (atomic on POSIX): a killed run never
leaves a half file.

Dataset attributes (layout version :data:`METADATA_SCHEMA`, stored as the integer ``ds.attrs["metadata_schema"]``;
:func:`check_dataset_schema` checks a saved file against it):

* ``config``: the run configuration, written only by this module (:func:`save_dataset` ``config=``, or
  :func:`attach_config` on an in-memory dataset that judge code reads before it is saved). One schema: the JSON
  of ``{"schema": 1, "configs": {NAME: {"type": TYPE, "fields": {...}}}}``, where one dataclass is stored under
  the name ``"run"``, a mapping ``NAME -> dataclass or dict`` under its names (a figure with several runs, e.g.
  ``{"modular": ModularConfig(...), "mnist": MnistConfig(...)}``); ``TYPE`` is ``"module.Class"`` for a
  dataclass, ``"dict"`` for a mapping; ``fields`` are its fields, JSON-able (nested dataclasses as dicts, tuples
  and arrays as lists, paths as strings). :func:`load_dataset` returns it parsed (a dict); read it with
  :func:`run_config`.
* ``metadata_schema`` (int), ``conventions``, ``engine``, ``data_convention`` (where the config has one);
* provenance (:func:`provenance`): ``version_grokjax`` and the other packages' ``version_*``, ``python``,
  ``platform``, ``device``, and ``git_commit`` (full hash of the git checkout the grokjax package was imported
  from) with ``git_dirty`` (``"true"``/``"false"``: tracked files modified), both ``"unknown"`` when grokjax is
  not imported from a git checkout (an installed wheel) or git does not answer within 5 s;
* whatever the writer adds (``figure``, ``task``, ``size``, ...); dicts, lists and booleans as JSON strings.

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
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import xarray as xr

from grokjax._errors import ConfigError
from grokjax._metadata import ATTRS, annotate

__all__ = ["save_dataset", "load_dataset", "provenance", "config_to_json", "atomic_write_bytes", "check_writable",
           "output_lock", "folder_lock", "ConcurrentWriteError", "METADATA_SCHEMA", "attach_config", "run_config",
           "check_dataset_schema", "git_provenance"]

#: Version of the dataset attribute layout (module docstring); saved as ``ds.attrs["metadata_schema"]`` and as
#: ``"schema"`` inside ``ds.attrs["config"]``. Raise it when the layout changes.
METADATA_SCHEMA = 1


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


def _config_record(config: Any) -> dict:
    """``config`` (one dataclass, or a mapping name -> dataclass / dict) as the one schema of ``attrs["config"]``
    (module docstring); :class:`ConfigError` on ``config`` for anything else."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = {"run": config}
    if not isinstance(config, Mapping) or not config:
        raise ConfigError("config", f"must be a dataclass config or a non-empty mapping name -> config, not "
                          f"{type(config).__name__}")
    configs = {}
    for name, value in config.items():
        if not isinstance(name, str) or not name:
            raise ConfigError("config", f"config names must be non-empty strings, not {name!r}")
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            kind = f"{type(value).__module__}.{type(value).__qualname__}"
        elif isinstance(value, Mapping):
            kind = "dict"
        else:
            raise ConfigError("config", f"config {name!r} must be a dataclass or a mapping field -> value, not "
                              f"{type(value).__name__} (one plain dict config is passed as {{'run': {{...}}}})")
        configs[name] = {"type": kind, "fields": json.loads(config_to_json(value))}
    return {"schema": METADATA_SCHEMA, "configs": configs}


def _parsed_record(value: Any) -> dict | None:
    """The config record ``value`` (dict or its JSON) if it follows the current schema, else ``None``."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not (isinstance(value, dict) and value.get("schema") == METADATA_SCHEMA
            and isinstance(value.get("configs"), dict) and value["configs"]):
        return None
    ok = all(isinstance(c, dict) and isinstance(c.get("type"), str) and isinstance(c.get("fields"), dict)
             for c in value["configs"].values())
    return value if ok else None


def attach_config(ds: xr.Dataset, config: Any) -> xr.Dataset:
    """Set ``ds.attrs["config"]`` (in place; ``ds`` returned) to ``config`` in the one schema (module docstring):
    one dataclass (stored as ``"run"``) or a mapping name -> dataclass / dict. For datasets whose judge code
    reads the config before :func:`save_dataset` writes them; a lone config's ``convention`` field also sets
    ``data_convention`` (unless set). :class:`ConfigError` on ``config`` for anything else."""
    record = _config_record(config)
    ds.attrs["config"] = record
    configs = list(record["configs"].values())
    if len(configs) == 1 and configs[0]["fields"].get("convention") is not None:
        ds.attrs.setdefault("data_convention", str(configs[0]["fields"]["convention"]))
    return ds


def run_config(ds: xr.Dataset, name: str | None = None) -> dict:
    """The fields of configuration ``name`` of ``ds`` (saved or :func:`attach_config`-ed), a dict; ``name=None``:
    the dataset's only configuration (``"run"`` for one dataclass). :class:`ConfigError` on ``config`` when the
    dataset has none, one of an older layout, several and no ``name``, or no configuration ``name``."""
    if "config" not in ds.attrs:
        raise ConfigError("config", "the dataset records no run configuration")
    record = _parsed_record(ds.attrs["config"])
    if record is None:
        raise ConfigError("config", f"the dataset's config is not of the current schema {METADATA_SCHEMA} "
                          "(grokjax/store.py); regenerate the dataset")
    configs = record["configs"]
    if name is None:
        if len(configs) != 1:
            raise ConfigError("config", f"the dataset holds configurations {', '.join(configs)}; name one")
        return next(iter(configs.values()))["fields"]
    if name not in configs:
        raise ConfigError("config", f"no configuration {name!r} (the dataset holds {', '.join(configs)})")
    return configs[name]["fields"]


def git_provenance() -> dict[str, str]:
    """``git_commit`` (full hash of ``HEAD``) and ``git_dirty`` (``"true"`` when tracked files are modified,
    ``git status --porcelain -uno``) of the git checkout the grokjax package is imported from; both ``"unknown"``
    when the package is not a tracked file of a checkout (an installed wheel), git is missing, or a git call
    fails or takes over 5 s. Never raises."""
    package = Path(__file__).resolve().parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}  # the package's own repository

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(package), *args], capture_output=True, text=True, timeout=5,
                              check=True, env=env).stdout.strip()

    try:
        git("ls-files", "--error-unmatch", Path(__file__).name)  # a tracked checkout, not a wheel inside one
        commit = git("rev-parse", "HEAD")
        dirty = "true" if git("status", "--porcelain", "-uno") else "false"
    except (OSError, subprocess.SubprocessError, ValueError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    return {"git_commit": commit, "git_dirty": dirty}


def provenance() -> dict[str, str]:
    """Package versions, the git commit (:func:`git_provenance`) and the device this process computes on."""
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
    out.update(git_provenance())
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

    ``config``: one dataclass or a mapping name -> dataclass / dict, stored as ``attrs["config"]`` in the one
    schema (module docstring; it replaces a config :func:`attach_config` set); without it, a config already
    attached is kept, and a ``ds.attrs["config"]`` of another shape is refused (:class:`ConfigError` on
    ``config``). Every variable gets long_name / units / description (:func:`grokjax._metadata.annotate`);
    ``ds.attrs`` gets ``metadata_schema``, ``conventions``, ``engine``, versions, git commit and device
    (:func:`provenance`), then ``extra_attrs``. An existing ``path`` is refused (:class:`ConfigError` on field
    ``out``) unless ``overwrite``; a concurrent writer of the same path is refused (:class:`ConcurrentWriteError`).
    """
    path = check_writable(path, "out", overwrite=overwrite)
    ds = annotate(ds, figure=extra_attrs.get("figure"))
    if config is not None:
        attach_config(ds, config)
    elif "config" in ds.attrs:
        if _parsed_record(ds.attrs["config"]) is None:
            raise ConfigError("config", "ds.attrs['config'] is not of the current schema; pass the config to "
                              "save_dataset(config=...) or grokjax.store.attach_config")
        ds.attrs["config"] = _parsed_record(ds.attrs["config"])
    attrs = dict(ds.attrs)
    attrs["metadata_schema"] = METADATA_SCHEMA
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
    """Load a dataset written by :func:`save_dataset` fully into memory; ``ds.attrs['config']`` is parsed (a dict;
    read it with :func:`run_config`)."""
    with xr.open_dataset(path, engine=_read_engine(path)) as handle:
        ds = handle.load()
    if isinstance(ds.attrs.get("config"), str):
        ds.attrs["config"] = json.loads(ds.attrs["config"])
    return ds


def check_dataset_schema(path: str | Path | xr.Dataset) -> list[str]:
    """What a saved dataset (a path, or one already loaded) lacks of the current layout (module docstring): one
    line per problem, ``[]`` when it has it all. Checked: readable; ``metadata_schema`` equal to
    :data:`METADATA_SCHEMA`; ``attrs["config"]`` in the one schema; ``conventions``, ``engine``,
    ``version_grokjax``, ``git_commit`` and ``git_dirty`` present; long_name, units and description on every
    variable and coordinate."""
    if isinstance(path, xr.Dataset):
        ds = path
    else:
        try:
            ds = load_dataset(path)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is a problem to report
            return [f"unreadable ({type(exc).__name__}: {exc})"]
    problems = []
    schema = ds.attrs.get("metadata_schema")
    if schema is None or int(schema) != METADATA_SCHEMA:
        problems.append(f"metadata_schema is {schema!r}, not {METADATA_SCHEMA}")
    if "config" not in ds.attrs:
        problems.append("no config attribute")
    elif _parsed_record(ds.attrs["config"]) is None:
        problems.append(f"config is not of schema {METADATA_SCHEMA} ({{'schema', 'configs': {{name: {{'type', "
                        "'fields'}}}}})")
    for key in ("conventions", "engine", "version_grokjax", "git_commit", "git_dirty"):
        if not ds.attrs.get(key):
            problems.append(f"no {key} attribute")
    for name, var in ds.variables.items():
        missing = [key for key in ATTRS if not var.attrs.get(key)]
        if missing:
            problems.append(f"variable {name} lacks {', '.join(missing)}")
    return problems
