"""Figure registry and the figure command: run -> dataset -> judge -> plot (protocol: ``experiments/__init__.py``).

Figure modules are found through the ``grokjax.figures`` entry-point group (pyproject.toml), so this package
never imports them by name. Run from a plain checkout that is not installed (``PYTHONPATH=. python -m grokjax``,
as on a GPU machine without network), the groups are read from the checkout's own ``pyproject.toml``
(:func:`plugin_entry_points`). This module imports neither JAX nor matplotlib until a figure is made.
"""
from __future__ import annotations

import importlib
import io
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from grokjax._errors import ConfigError

SIZES = ("tiny", "small", "paper")
#: the file formats :func:`save_figure` can write (matplotlib's names), and those it writes by default
FIGURE_FORMATS = ("png", "pdf", "svg")
DEFAULT_FIGURE_FORMATS = ("png", "pdf")
FIGURE_GROUP = "grokjax.figures"
COMMAND_GROUP = "grokjax.commands"


def __getattr__(name: str):
    """``ClaimCheck`` (the claim record a figure's ``judge`` returns) lives with the figures, in
    ``experiments._figure``; it is re-exported here (imported on first use) for code that still imports it from the
    registry. The registry itself only reads a check's ``figure``, ``holds``, ``numbers`` and ``report()``."""
    if name == "ClaimCheck":
        from experiments._figure import ClaimCheck

        return ClaimCheck
    raise AttributeError(f"module 'grokjax.figures' has no attribute {name!r}")


def format_number(value: Any) -> str:
    """A claim number as printed in verdict lines and the claims table (floats to 4 significant digits)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_number(v) for v in value) + "]"
    return str(value)


def _checkout_entry_points() -> dict[str, dict[str, str]]:
    """``{group: {name: "module:attr"}}`` declared in the ``pyproject.toml`` of the source tree this package was
    imported from, or ``{}`` when it was imported from an installation (no ``pyproject.toml`` beside it)."""
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    if not pyproject.is_file():
        return {}
    try:
        import tomllib
    except ImportError:  # Python 3.10: no TOML reader in the standard library; installed metadata only
        return {}
    try:
        project = tomllib.loads(pyproject.read_text()).get("project", {})
    except (OSError, ValueError):
        return {}
    if project.get("name") != "grokjax":
        return {}
    return {group: dict(points) for group, points in project.get("entry-points", {}).items()}


def plugin_entry_points(group: str) -> dict[str, str]:
    """``{name: "module[:attr]"}`` of the plugins registered under entry-point ``group`` (``grokjax.figures``,
    ``grokjax.commands``, ...): installed packages' metadata, overridden by the checkout's own ``pyproject.toml``
    when grokjax runs from a source tree (so a plain, uninstalled checkout finds its figures and commands)."""
    found = {ep.name: ep.value for ep in entry_points(group=group)}
    found.update(_checkout_entry_points().get(group, {}))
    return found


def load_plugin(value: str):
    """The object named by an entry-point value ``"module:attr"`` (or the module for ``"module"``)."""
    module_name, _, attr = value.partition(":")
    obj = importlib.import_module(module_name.strip())
    for part in filter(None, attr.strip().split(".")):
        obj = getattr(obj, part)
    return obj


def figure_modules() -> list[str]:
    """Module names registered under the ``grokjax.figures`` entry-point group, in name order."""
    return sorted(set(plugin_entry_points(FIGURE_GROUP).values()))


def command(name: str):
    """The function registered as ``name`` under ``grokjax.commands`` (e.g. ``compare-dmft``), or ``None``."""
    value = plugin_entry_points(COMMAND_GROUP).get(name)
    return None if value is None else load_plugin(value)


def available_figures() -> dict[str, str]:
    """All figure names, sorted, with their one-line descriptions."""
    out: dict[str, str] = {}
    for module_name in figure_modules():
        out.update(getattr(importlib.import_module(module_name), "FIGURES", {}))
    return dict(sorted(out.items()))


def find_module(name: str):
    """The module that draws figure ``name`` (ConfigError naming 'figure' if none does)."""
    for module_name in figure_modules():
        module = importlib.import_module(module_name)
        if name in getattr(module, "FIGURES", {}):
            return module
    raise ConfigError("figure", f"unknown figure {name!r} (known: {', '.join(available_figures())})")


def save_figure(fig: Any, out_dir: str | Path, name: str,
                formats: tuple[str, ...] = DEFAULT_FIGURE_FORMATS) -> list[Path]:
    """Save a matplotlib figure as ``out_dir/name.<format>`` for each of ``formats`` (distinct names from
    :data:`FIGURE_FORMATS`; ConfigError naming 'formats' otherwise, before anything is written), each file
    atomically, at 150 dpi with a tight bounding box; returns the paths."""
    from grokjax.store import atomic_write_bytes

    formats = check_figure_formats(formats)
    out_dir = Path(out_dir)
    paths = []
    for ext in formats:
        buffer = io.BytesIO()
        fig.savefig(buffer, format=ext, dpi=150, bbox_inches="tight")
        path = out_dir / f"{name}.{ext}"
        atomic_write_bytes(path, buffer.getvalue())
        paths.append(path)
    return paths


def check_figure_formats(formats) -> tuple[str, ...]:
    """``formats`` as a tuple of distinct names from :data:`FIGURE_FORMATS`, at least one (ConfigError naming
    'formats' otherwise)."""
    try:
        names = (formats,) if isinstance(formats, str) else tuple(formats)
    except TypeError:
        names = ()
    if not (names and all(isinstance(n, str) for n in names) and len(set(names)) == len(names)
            and set(names) <= set(FIGURE_FORMATS)):
        raise ConfigError("formats", f"must be one or more distinct names from {FIGURE_FORMATS}, got {formats!r}")
    return names


def seeded_figures() -> set[str]:
    """Names of the figures whose ``run`` takes ``seeds`` (the module's ``SEEDED_FIGURES``)."""
    out: set[str] = set()
    for module_name in figure_modules():
        out |= set(getattr(importlib.import_module(module_name), "SEEDED_FIGURES", ()))
    return out


def check_figure_seeds(name: str, seeds) -> list[int] | None:
    """``seeds`` checked for figure ``name`` (None passes): distinct integers, and a figure that takes seeds
    (ConfigError naming 'seeds' otherwise)."""
    if seeds is None:
        return None
    if name not in getattr(find_module(name), "SEEDED_FIGURES", ()):
        raise ConfigError("seeds", f"figure {name!r} takes no --seeds (its seeds are part of its design); figures "
                          f"that do: {', '.join(sorted(seeded_figures()))}")
    from grokjax._config import check_seeds

    return check_seeds(seeds)


def make_figure(name: str, size: str, out_dir: str | Path, quiet: bool = False,
                from_path: str | Path | None = None, seeds: list[int] | None = None,
                formats: tuple[str, ...] = DEFAULT_FIGURE_FORMATS) -> tuple[Any, list[Path]]:
    """Run (or, with ``from_path``, load), save, judge and plot figure ``name``; returns the check and the
    files written. ``seeds``: run these seeds (figures in :func:`seeded_figures` only; ConfigError naming
    'seeds' otherwise) and judge / plot their means. ``formats``: the plot's files (:func:`save_figure`),
    checked before anything runs."""
    module = find_module(name)
    seeds = check_figure_seeds(name, seeds)
    formats = check_figure_formats(formats)
    out_dir = Path(out_dir)
    if not (all(callable(getattr(module, f, None)) for f in ("run", "judge", "plot"))
            and name in getattr(module, "DATASET_FIGURES", module.FIGURES)):
        raise ConfigError("figure", f"figure {name!r}: its module {module.__name__} does not follow the run -> "
                          "dataset -> judge -> plot protocol (experiments/__init__.py)")
    from grokjax.store import load_dataset, save_dataset

    written = []
    if from_path is None:
        ds = module.run(name, size, quiet=quiet) if seeds is None else module.run(name, size, quiet=quiet, seeds=seeds)
        from grokjax._dataset_checks import layout

        path = save_dataset(ds, out_dir / "data" / f"{name}.nc", figure=name, overwrite=True, layout=layout(ds))
        written.append(path)
        from_path = path
    try:  # judged and plotted from the file, so --from gives the same verdict
        ds = load_dataset(from_path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file
        raise ConfigError("from", f"{from_path} is not a readable dataset ({type(exc).__name__}: {exc})") from None
    if ds.attrs.get("figure") != name:
        raise ConfigError("from", f"{from_path} holds the dataset of figure {ds.attrs.get('figure')!r}, not {name!r}")
    from grokjax._dataset_checks import check_figure_dataset

    check_figure_dataset(ds, name, from_path)  # variables / dims it was saved with, steps, finite curves
    try:
        check = module.judge(name, ds)
        fig = module.plot(name, ds)
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        if written:  # a dataset just computed: a bug, not bad input
            raise
        raise ConfigError("from", f"{from_path} does not hold what figure {name}'s judge needs "
                          f"({type(exc).__name__}: {exc})") from None
    written = save_figure(fig, out_dir, name, formats) + written
    import matplotlib.pyplot as plt

    plt.close(fig)
    return check, written
