"""Shared pieces of the figure runners: the claim record, discovery and saving."""
from __future__ import annotations

from typing import Callable

from grokjax.figures import SIZES, ClaimCheck, available_figures, save_figure  # noqa: F401  (re-exported)
from grokjax.figures import format_number as _fmt  # noqa: F401


def find_figure(name: str) -> Callable[..., ClaimCheck] | None:
    """A ``make_figure(name, size, out_dir, quiet) -> ClaimCheck`` for figure ``name`` (run, save, judge, plot), or
    ``None``."""
    from grokjax.figures import find_module, make_figure

    try:
        find_module(name)
    except Exception:  # noqa: BLE001 - unknown figure
        return None
    return lambda n, size, out_dir, quiet=False: make_figure(n, size, out_dir, quiet=quiet)[0]
