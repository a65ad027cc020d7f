"""Hand freed heap pages back to the operating system between the marching solver's steps.

Each compiled step allocates and frees tens of MB of outputs and temporaries.  glibc's ``malloc`` keeps such
blocks in its per-thread arenas once its dynamic mmap threshold has risen past their size, so the resident set
of a long march grows by ~100 MB of freed-but-kept pages (measured at S = 8000, T = 400) although the live
state does not.  ``malloc_trim(0)`` returns those pages (it never moves or frees live memory).  Where the C
library has no ``malloc_trim`` (not glibc) this is a no-op.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_free_memory() -> bool:
    """Return the C heap's free pages to the OS; ``True`` if the C library could do it."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
