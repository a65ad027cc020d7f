"""The options of ``grokjax figure`` and ``grokjax reproduce``, declared once with :func:`grokjax._config.param`:
the command-line flags (:func:`grokjax._dataclass_cli.add_config_arguments`), the Python constructors and the
error messages all come from these declarations (as for every task and DMFT configuration)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

from grokjax._config import MAX_SEED, check_field, param, validate_fields
from grokjax._errors import ConfigError, require
from grokjax.figures import DEFAULT_FIGURE_FORMATS, FIGURE_FORMATS, SIZES
_OUT = "output folder (default: figures/ for small, figures/<size>/ for the others"


def _check_first(obj, name: str):
    """Check one field before the others (an unknown figure is refused first)."""
    f = {f.name: f for f in dataclasses.fields(obj)}[name]
    value = check_field(f, getattr(obj, name), type(obj))
    object.__setattr__(obj, name, value)
    return value


@dataclass(frozen=True)
class FigureOptions:
    """``grokjax figure NAME``: regenerate a paper figure and check its claim."""

    figure: str = param("", "figure name (grokjax list shows them)", positional=True)
    size: Optional[str] = param(None, "tiny (tests), small (CPU minutes) or paper (default: small; not with --from)",
                                choices=SIZES)
    from_path: Optional[str] = param(None, "re-judge and re-plot from this saved dataset without computing "
                                     "(default: compute)", flag="from", check="path")
    out: Optional[str] = param(None, _OUT + "; with --from: the dataset's figure folder)", check="path")
    seeds: Optional[tuple[int, ...]] = param(
        None, "init/data seeds, space-separated: curves are seed means with a ±1 SEM band and the claim is judged on "
        "the seed means (default: the figure's own seed(s); grokjax list marks the figures that take seeds; not with "
        f"--from); integers in [0, {MAX_SEED}]", check="seed", distinct=True)
    formats: tuple[str, ...] = param(DEFAULT_FIGURE_FORMATS, "plot file formats, space-separated",
                                     choices=FIGURE_FORMATS, distinct=True)
    quiet: bool = param(False, "no progress bar")

    def __post_init__(self):
        from grokjax.figures import check_figure_seeds, find_module

        find_module(_check_first(self, "figure"))  # an unknown figure is refused first, naming 'figure'
        validate_fields(self)
        if self.from_path is not None:
            require(self.size is None, "size", "--size has no effect with --from (the saved dataset fixes the size)")
            require(self.seeds is None, "seeds", "--seeds has no effect with --from (the saved dataset fixes the "
                    "seeds)")
        check_figure_seeds(self.figure, self.seeds)  # a figure that takes no seeds


@dataclass(frozen=True)
class ReproduceOptions:
    """``grokjax reproduce``: run every figure (or ``only``) and write one claims table."""

    size: str = param("small", "tiny, small or paper", choices=SIZES)
    out: Optional[str] = param(None, _OUT + ")", check="path")
    only: Optional[tuple[str, ...]] = param(None, "only these figures, space-separated (default: all)", distinct=True)
    quiet: bool = param(False, "no progress bars")
    overwrite: bool = param(False, "replace a claims table in --out that cannot be merged (another size, "
                            "unreadable) instead of refusing (default: merge rows, or refuse)")

    def __post_init__(self):
        validate_fields(self)
        if self.only:
            from grokjax.figures import available_figures

            known = available_figures()
            for name in self.only:
                if name not in known:
                    raise ConfigError("only", f"unknown figure {name!r} (known: {', '.join(known)})")
