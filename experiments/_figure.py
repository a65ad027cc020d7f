"""Shared pieces of the figure runners: the claim record (:class:`ClaimCheck`), discovery and saving."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from grokjax import first_crossing
from grokjax.figures import SIZES, available_figures, format_number, save_figure  # noqa: F401  (re-exported)


@dataclasses.dataclass(frozen=True)
class ClaimCheck:
    """The paper's claim for one figure and whether this run shows it (what a figure's ``judge`` returns).

    ``numbers`` holds the measured quantities the verdict is based on; ``details`` says how they were judged.
    """

    figure: str
    claim: str
    holds: bool
    numbers: dict[str, Any]
    details: str = ""

    def report(self) -> str:
        """The verdict lines: the claim, HOLDS / DOES NOT HOLD with the numbers, and the details."""
        verdict = "HOLDS" if self.holds else "DOES NOT HOLD"
        nums = ", ".join(f"{k}={format_number(v)}" for k, v in self.numbers.items())
        text = f"[{self.figure}] claim: {self.claim}\n[{self.figure}] {verdict}: {nums}"
        if self.details:
            text += f"\n[{self.figure}] {self.details}"
        return text


def drop_index(curve, threshold) -> int:
    """Index of the first point where ``curve`` (1-D) is strictly below ``threshold``, or the last index if it never
    is: :func:`grokjax.first_crossing` (the one crossing rule) on the index axis, for judges that cut a curve there."""
    curve = np.asarray(curve, float)
    i = first_crossing(np.arange(len(curve)), curve, threshold)
    return len(curve) - 1 if np.isnan(i) else int(i)


def seed_mean(ds):
    """``ds`` averaged over its ``seed`` dim (figures run with ``--seeds`` are judged on seed means); unchanged
    without one."""
    return ds.mean("seed", keep_attrs=True) if "seed" in ds.dims else ds


def protocol(table: dict, family: str):
    """``run, judge, plot`` of a figure module whose figures are ``table = {name: (run, judge, plot)}`` (each taking
    ``(name, size, quiet)`` / ``(name, ds)`` / ``(name, ds)``): ``run`` refuses an unknown figure or size
    (ConfigError naming 'figure' / 'size') before any compute."""
    from grokjax import ConfigError

    def run(name, size, quiet=False):
        """Run figure ``name`` at ``size`` ("tiny", "small", "paper"): the dataset judge and plot read."""
        if name not in table:
            raise ConfigError("figure", f"unknown {family} figure {name!r} (known: {', '.join(table)})")
        if size not in SIZES:
            raise ConfigError("size", f"must be one of {', '.join(SIZES)}, got {size!r}")
        return table[name][0](name, size, quiet)

    def judge(name, ds) -> ClaimCheck:
        """The claim of figure ``name`` judged on its dataset (no compute)."""
        return table[name][1](name, ds)

    def plot(name, ds):
        """Figure ``name`` drawn from its dataset."""
        return table[name][2](name, ds)

    return run, judge, plot


def find_figure(name: str) -> Callable[..., ClaimCheck] | None:
    """A ``make_figure(name, size, out_dir, quiet) -> ClaimCheck`` for figure ``name`` (run, save, judge, plot), or
    ``None``."""
    from grokjax.figures import find_module, make_figure

    try:
        find_module(name)
    except Exception:  # noqa: BLE001 - unknown figure
        return None
    return lambda n, size, out_dir, quiet=False: make_figure(n, size, out_dir, quiet=quiet)[0]
