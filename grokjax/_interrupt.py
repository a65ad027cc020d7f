"""Clean interrupts for the command line: SIGINT and SIGTERM stop a run at once, with one line, exit 130 / 143.

A compiled XLA program does not return to Python until it ends, so a Python-level signal handler would only run
when the program finishes (tens of seconds later), and a ``KeyboardInterrupt`` raised in the middle of a
compilation can crash the interpreter's shutdown. Instead, :func:`handled` has the C-level signal handler write
the signal number to a pipe (``signal.set_wakeup_fd``) that a watcher thread reads; that thread removes the
temporary files and lock files this process holds (:func:`track`, :data:`grokjax.store._HELD`) and the output
folders it created that are still empty (:func:`make_dirs`), prints one
line — how many checkpoint chunks are saved and where — and leaves with ``os._exit(128 + signal)``. Every
output is written to a temporary name and renamed into place, so nothing partial is left; finished checkpoint
chunks stay, and rerunning the same command resumes from them.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

_PROGRESS: dict = {"folder": None, "chunks": 0, "saved": 0}
_TRACKED: set[str] = set()  # temporary files being written (removed on interrupt)
_CREATED: list[str] = []  # folders this command created for its outputs (removed on interrupt while empty)
_EXITING = threading.Lock()
_ACTIVE = {"on": False}


def checkpoint_started(folder: str | Path, n_chunks: int) -> None:
    """A sweep checkpoints ``n_chunks`` chunks into ``folder`` (none counted as saved yet)."""
    _PROGRESS.update(folder=str(folder), chunks=int(n_chunks), saved=0)


def chunk_saved() -> None:
    """One more chunk of the current sweep is saved (or was found saved)."""
    _PROGRESS["saved"] += 1


def track(path: str) -> None:
    _TRACKED.add(str(path))


def untrack(path: str) -> None:
    _TRACKED.discard(str(path))


def make_dirs(folder: str | Path) -> Path:
    """``folder.mkdir(parents=True, exist_ok=True)``, remembering (inside :func:`handled`) the folders it created:
    an interrupt removes those still empty, deepest first, so no empty output folder is left behind."""
    folder = Path(folder)
    missing = [d for d in (folder, *folder.parents) if not d.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    if _ACTIVE["on"]:
        _CREATED.extend(os.path.abspath(d) for d in reversed(missing))  # shallowest first
    return folder


def message(signum: int) -> str:
    """The one line printed on an interrupt."""
    name = signal.Signals(signum).name
    if _PROGRESS["folder"] is not None:
        folder = _PROGRESS["folder"].rstrip("/") + "/"
        return (f"grokjax: interrupted ({name}): {_PROGRESS['saved']} of {_PROGRESS['chunks']} chunks saved in "
                f"{folder}; rerun the same command to resume")
    return f"grokjax: interrupted ({name}): no partial output was left; rerun the command to start again"


def _progress_bar_open() -> bool:
    std = sys.modules.get("tqdm.std")
    try:
        return bool(std is not None and len(std.tqdm._instances))
    except Exception:  # noqa: BLE001 - never fail while leaving
        return False


def _cleanup() -> None:
    for path in list(_TRACKED):
        with contextlib.suppress(OSError):
            os.unlink(path)
    store = sys.modules.get("grokjax.store")
    for path in list(getattr(store, "_HELD", {})):
        with contextlib.suppress(OSError):
            os.unlink(path)
    for folder in reversed(_CREATED):  # deepest first; a folder that holds anything (saved chunks) stays
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def terminate(signum: int) -> None:
    """Remove temporary and lock files, print one line, exit ``128 + signum`` (once, from any thread)."""
    if not _EXITING.acquire(blocking=False):  # another thread is already leaving: wait for it
        while True:
            time.sleep(60)
    try:
        _cleanup()
        line = message(signum) + "\n"
        if _progress_bar_open():  # a progress bar's line has no newline yet: the message starts its own line
            line = "\n" + line
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        with contextlib.suppress(OSError):
            os.write(2, line.encode())
    finally:
        os._exit(128 + signum)


def _watch(read_fd: int) -> None:
    while True:
        try:
            data = os.read(read_fd, 1)
        except OSError:
            return
        if not data:
            return
        if _ACTIVE["on"] and data[0] in (signal.SIGINT, signal.SIGTERM):
            terminate(data[0])


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM end the process promptly and cleanly (see the module docstring).
    Only in the main thread (elsewhere the block does nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    previous = {s: signal.signal(s, lambda signum, frame: terminate(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    _ACTIVE["on"] = True
    watcher = threading.Thread(target=_watch, args=(read_fd,), name="grokjax-interrupts", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        _ACTIVE["on"] = False
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(previous_fd)
        os.close(write_fd)  # the watcher's read returns b"" and it ends
        watcher.join(timeout=1)
        os.close(read_fd)
        _PROGRESS.update(folder=None, chunks=0, saved=0)
        _CREATED.clear()
