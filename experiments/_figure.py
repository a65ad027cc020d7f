"""Shared pieces of the figure runners: the claim record, discovery and saving."""
from __future__ import annotations

from typing import Callable

from grokjax.figures import SIZES, ClaimCheck, available_figures, save_figure  # noqa: F401  (re-exported)
from grokjax.figures import format_number as _fmt  # noqa: F401


def seed_mean(ds):
    """``ds`` averaged over its ``seed`` dim (figures run with ``--seeds`` are judged on seed means); unchanged
    without one."""
    return ds.mean("seed", keep_attrs=True) if "seed" in ds.dims else ds


def find_figure(name: str) -> Callable[..., ClaimCheck] | None:
    """A ``make_figure(name, size, out_dir, quiet) -> ClaimCheck`` for figure ``name`` (run, save, judge, plot), or
    ``None``."""
    from grokjax.figures import find_module, make_figure

    try:
        find_module(name)
    except Exception:  # noqa: BLE001 - unknown figure
        return None
    return lambda n, size, out_dir, quiet=False: make_figure(n, size, out_dir, quiet=quiet)[0]
