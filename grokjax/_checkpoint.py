"""Checkpoints that prove what they hold, shared by every chunked, resumable run (:func:`grokjax.run_sweep`,
:func:`grokjax.run_model`).

``manifest.json`` records the run's configuration fingerprint and chunk layout (chunk size, number of chunks and
configurations). Each chunk file (``chunk_00000.npz``, written atomically) records the fingerprint, its index and
row range, the configurations it holds (``__configs__``: one float64 row of per-configuration inputs each) and a
SHA-256 of its content (``__meta__``). On resume :func:`load_chunk` reuses a chunk only if all of these match;
anything else (another run's chunk, another chunk's, corrupt, truncated, empty, an older format) is recomputed
after one :class:`grokjax._errors.CheckpointWarning` line. :func:`check_manifest` refuses a folder of another run
or of another chunk size (``ConfigError`` on ``checkpoint_dir``) and rewrites an unreadable manifest.
"""
from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from grokjax._errors import CheckpointWarning, ConfigError
from grokjax.store import atomic_write_bytes

__all__ = ["check_manifest", "content_hash", "load_chunk", "rows_of", "save_chunk"]


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


FORMAT = 2


def _warn(message: str) -> None:
    warnings.warn(message, CheckpointWarning, stacklevel=3)


def rows_of(columns: Mapping[str, np.ndarray], lo: int, hi: int) -> np.ndarray:
    """The configurations of rows ``lo:hi`` as one float64 row each: the per-configuration inputs (seeds, swept
    values, keys), in the order of ``columns`` (what a chunk holds)."""
    return np.concatenate([np.asarray(v[lo:hi], dtype=np.float64).reshape(hi - lo, -1) for v in columns.values()],
                          axis=1)


def content_hash(arrays: Mapping[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for key in sorted(arrays):
        array = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save_chunk(path: Path, part: Mapping[str, np.ndarray], fingerprint: str, index: int, lo: int, hi: int,
               rows: np.ndarray, columns: Sequence[str] = ()) -> None:
    """Write one chunk atomically with what proves it: the sweep's fingerprint, its index and row range, the
    configurations it holds (``__configs__``: seed and swept scalars per row) and a hash of its content."""
    meta = {"format": FORMAT, "fingerprint": fingerprint, "index": index, "lo": lo, "hi": hi,
            "columns": list(columns), "sha256": content_hash(part)}
    buffer = io.BytesIO()
    np.savez(buffer, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), __configs__=rows, **part)
    atomic_write_bytes(path, buffer.getvalue())


def load_chunk(path: Path, fingerprint: str, index: int, lo: int, hi: int, rows: np.ndarray,
               expected: Sequence[str] = ()) -> dict[str, np.ndarray] | None:
    """The chunk at ``path`` if it proves to be chunk ``index`` of this sweep (same fingerprint, row range,
    configurations and content hash, every output present); otherwise None after one warning line."""
    reason = None
    try:
        with np.load(path, allow_pickle=False) as archive:
            data = {k: archive[k] for k in archive.files}
    except Exception as exc:  # BadZipFile, EOFError, ValueError, OSError, zlib.error, ...
        reason = f"is unreadable ({type(exc).__name__}: {str(exc)[:80] or 'empty or truncated'})"
        data = {}
    if reason is None:
        try:
            meta = json.loads(bytes(data.pop("__meta__")).decode())
            held = data.pop("__configs__")
            if not isinstance(meta, dict):
                raise ValueError
        except Exception:
            meta, held = None, None
        if meta is None:
            reason = "does not record what it holds (corrupt, or written by an older grokjax)"
        elif meta.get("fingerprint") != fingerprint:
            reason = f"belongs to another sweep (fingerprint {meta.get('fingerprint')}, this sweep {fingerprint})"
        elif (meta.get("index"), meta.get("lo"), meta.get("hi")) != (index, lo, hi):
            reason = (f"holds chunk {meta.get('index')} (rows {meta.get('lo')}:{meta.get('hi')}), not chunk {index} "
                      f"(rows {lo}:{hi})")
        elif held.shape != rows.shape or not np.array_equal(held, rows):
            reason = "holds other configurations than this chunk's"
        elif meta.get("sha256") != content_hash(data):
            reason = "does not match its content hash (corrupt)"
        elif not set(expected) <= set(data) or not data or any(v.ndim < 1 or v.shape[0] != hi - lo for v in data.values()):
            reason = "lacks outputs or has the wrong shape"
    if reason is not None:
        _warn(f"checkpoint_dir: {path} {reason}; recomputing it")
        return None
    return data


def check_manifest(ckpt: Path, fingerprint: str, chunk: int, chunk_size: int | None, total: int,
                   max_chunk: int, n_dev: int = 1) -> int:
    """Check (or write) ``manifest.json``: the sweep's fingerprint and chunk layout. Returns the chunk size to
    use: a folder of another sweep is refused; an unreadable manifest is rewritten (one warning: every chunk is
    still checked on its own); a layout of another chunk size is adopted when the size was left to memory
    (``chunk_size=None``) and fits, else refused, naming ``checkpoint_dir``."""
    manifest = ckpt / "manifest.json"

    def write(size: int) -> None:
        atomic_write_bytes(manifest, json.dumps({
            "format": FORMAT, "fingerprint": fingerprint, "chunk_size": size,
            "chunks": -(-total // size), "configs": total}, sort_keys=True).encode())

    if not (manifest.exists() or manifest.is_symlink()):
        write(chunk)
        return chunk
    try:
        old = json.loads(manifest.read_text())
        if not isinstance(old, dict) or not isinstance(old.get("fingerprint"), str):
            raise ValueError("no fingerprint")
        old_chunk = old.get("chunk_size", chunk)
        if not (_is_int(old_chunk) and old_chunk >= 1):
            raise ValueError(f"chunk_size {old_chunk!r}")
    except Exception as exc:  # JSONDecodeError, UnicodeDecodeError, OSError, ...
        _warn(f"checkpoint_dir: {manifest} is unreadable ({type(exc).__name__}); rewriting it (each chunk is "
              "still checked before it is reused)")
        write(chunk)
        return chunk
    if old["fingerprint"] != fingerprint:
        raise ConfigError("checkpoint_dir", f"{ckpt} holds a different sweep (fingerprint {old['fingerprint']}, "
                          f"this sweep {fingerprint}); use another folder")
    if old_chunk != chunk:
        if chunk_size is None and old_chunk <= max_chunk and old_chunk % n_dev == 0:
            chunk = old_chunk  # the size was left to memory: resume with the folder's layout
        else:
            raise ConfigError("checkpoint_dir", f"{ckpt} holds chunks of {old_chunk} configurations, this run "
                              f"asks for {chunk}; rerun with --chunk-size {old_chunk} (chunk_size={old_chunk}) "
                              "or use another folder")
    if old.get("format") != FORMAT:
        write(chunk)
    return chunk
