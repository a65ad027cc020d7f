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
from typing import Callable, Mapping, Sequence

import numpy as np

from grokjax._errors import CheckpointWarning, ConfigError
from grokjax.store import atomic_write_bytes

__all__ = ["check_manifest", "content_hash", "load_chunk", "rows_of", "run_chunks", "save_chunk"]


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


def run_chunks(compute: Callable[[np.ndarray], Mapping[str, np.ndarray]], columns: Mapping[str, np.ndarray],
               chunk: int, *, checkpoint_dir: Path | None = None, fingerprint: str = "",
               chunk_size: int | None = None, max_chunk: int | None = None, n_dev: int = 1,
               expected: Sequence[str] = (), on_reused: Callable[[int], None] | None = None,
               ) -> tuple[dict[str, np.ndarray], int, int]:
    """The one chunk loop of every chunked, resumable run (:func:`grokjax.run_sweep`, :func:`grokjax.run_model`).

    The flat configuration axis (``len`` of every array in ``columns``: the per-configuration inputs) is split into
    chunks of ``chunk`` rows; ``compute(idx)`` returns ``{name: array (chunk, ...)}`` for the configurations
    ``idx`` (the last chunk is padded by wrapping, so one compilation serves all chunks). With ``checkpoint_dir``:
    the folder is locked (:func:`grokjax.store.folder_lock`; each process of a multi-host run holds its own lock
    file), its manifest checked (:func:`check_manifest`, which may adopt the folder's chunk size when
    ``chunk_size`` is None), a chunk already written for this ``fingerprint`` and these configurations is reused
    (``on_reused(rows)`` is called), and each new chunk is written atomically as soon as it is done (plus a line
    in ``computed.log``): a killed run resumes. Under ``jax.distributed`` each process computes the chunks
    ``i % process_count == process_index`` and the parts are exchanged with JAX's collectives.

    Returns ``(flat results with the padding dropped, chunk size used, number of chunks)``.
    """
    import contextlib
    import os
    import time

    import jax

    from grokjax import _interrupt
    from grokjax.store import folder_lock

    total = len(next(iter(columns.values())))
    ckpt = None if checkpoint_dir is None else Path(checkpoint_dir)
    process_index, process_count = jax.process_index(), jax.process_count()
    lock = contextlib.nullcontext() if ckpt is None else folder_lock(
        ckpt, "checkpoint_dir", name=".lock" if process_index == 0 else f".lock.p{process_index}")
    results: dict[int, dict[str, np.ndarray]] = {}
    with lock:
        if ckpt is not None:
            chunk = check_manifest(ckpt, fingerprint, chunk, chunk_size, total,
                                   chunk if max_chunk is None else max_chunk, n_dev)
        n_chunks = -(-total // chunk)
        if ckpt is not None:
            _interrupt.checkpoint_started(ckpt, n_chunks)
        for i in range(process_index, n_chunks, process_count):
            lo, hi = i * chunk, min(total, (i + 1) * chunk)
            path = None if ckpt is None else ckpt / f"chunk_{i:05d}.npz"
            if path is not None and (path.exists() or path.is_symlink()):
                part = load_chunk(path, fingerprint, i, lo, hi, rows_of(columns, lo, hi), expected=expected)
                if part is not None:
                    results[i] = part
                    _interrupt.chunk_saved()
                    if on_reused is not None:
                        on_reused(hi - lo)
                    continue
            out = jax.device_get(compute(np.arange(lo, lo + chunk) % total))
            results[i] = {k: np.asarray(v)[: hi - lo] for k, v in out.items()}
            if path is not None:
                save_chunk(path, results[i], fingerprint, i, lo, hi, rows_of(columns, lo, hi), columns=list(columns))
                _interrupt.chunk_saved()
                with open(ckpt / "computed.log", "a") as log:  # audit trail: which chunks were computed, when
                    log.write(f"{i} {time.time():.3f} pid={os.getpid()}\n")
    if process_count > 1:
        if not results:  # more processes than chunks: this one computes chunk 0 only for the shapes it sends
            results_shape = jax.device_get(compute(np.arange(chunk) % total))
            results = _gather_chunks({-1: {k: np.asarray(v)[: min(chunk, total)] for k, v in results_shape.items()}},
                                     n_chunks)
            results.pop(-1)
        else:
            results = _gather_chunks(results, n_chunks)
    flat = {k: np.concatenate([results[i][k] for i in range(n_chunks)]) for k in results[0]}
    return flat, chunk, n_chunks


def _gather_chunks(results: dict[int, dict[str, np.ndarray]], n_chunks: int) -> dict[int, dict[str, np.ndarray]]:
    """Exchange finished chunks between processes with JAX collectives (no home-made networking): chunk ``i`` is
    computed by process ``i % process_count``; every process contributes a same-shaped copy, the owner's is kept."""
    import jax
    from jax.experimental import multihost_utils

    template = next(iter(results.values()))
    out = dict(results)
    for i in range(n_chunks):
        owner = i % jax.process_count()
        local = results.get(i, {k: np.zeros_like(v) for k, v in template.items()})
        gathered = multihost_utils.process_allgather({k: local[k] for k in sorted(local)})
        out[i] = {k: np.asarray(v)[owner] for k, v in gathered.items()}
    return out
