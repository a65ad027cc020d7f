"""What every variable of every dataset grokjax writes means: ``long_name``, ``units`` and a one-line
``description`` (the README "Conventions" table's definitions), in one place: the data file
``grokjax/variables.json`` (tables of ``[long_name, units, description]``), read here once at import.

:func:`annotate` attaches them (``grokjax.store.save_dataset`` calls it, so every writer gets them). Look-up
order: the figure's entries (``ds.attrs["figure"]``), then the shared table, which describes the committee machine
(task ``poly``). :func:`grokjax.run_model` datasets (every task's) arrive described by the layer's own templates
(``MODEL_LAYER_VARIABLES``). A variable that already carries all three attributes
is left as it is. A variable with no entry is reported (:class:`MissingMetadataWarning`; an error when the
environment variable ``GROKJAX_STRICT_METADATA`` is set, as in the test suite).
"""
from __future__ import annotations

import os
import warnings

import xarray as xr

__all__ = ["VARIABLES", "COORDINATES", "FIGURE_VARIABLES", "MODEL_LAYER_VARIABLES", "CONVENTIONS", "describe", "annotate",
           "MissingMetadataWarning", "MissingMetadataError"]

ATTRS = ("long_name", "units", "description")

def _load_tables() -> dict:
    """The tables of ``grokjax/variables.json`` (data, not code: one entry per variable and context), with the
    ``{fragment}`` placeholders of its descriptions filled in."""
    import json
    from pathlib import Path

    raw = json.loads((Path(__file__).with_name("variables.json")).read_text(encoding="utf-8"))
    fragments = raw["fragments"]

    def table(entries: dict) -> dict[str, tuple[str, str, str]]:
        return {name: (long_name, units, description.format(**fragments))
                for name, (long_name, units, description) in entries.items()}

    return {"conventions": raw["conventions"], "variables": table(raw["variables"]),
            "coordinates": table(raw["coordinates"]),
            "figures": {figure: table(entries) for figure, entries in raw["figures"].items()},
            "model_layer": {part: {name: tuple(entry) for name, entry in entries.items()}  # templates, filled per run
                            for part, entries in raw["model_layer"].items()}}


_TABLES = _load_tables()

#: Project-wide conventions, stored as ``ds.attrs["conventions"]`` of every dataset.
CONVENTIONS: str = _TABLES["conventions"]
#: name -> (long_name, units, description); the committee machine and names shared by all datasets.
VARIABLES: dict[str, tuple[str, str, str]] = _TABLES["variables"]
#: Coordinates (dimensions and swept parameters).
COORDINATES: dict[str, tuple[str, str, str]] = _TABLES["coordinates"]
#: Per-figure meanings where a figure reuses a name for something else (looked up first).
FIGURE_VARIABLES: dict[str, dict[str, tuple[str, str, str]]] = _TABLES["figures"]
#: :func:`grokjax.run_model` datasets: ``{"variables": ..., "coordinates": ...}``, descriptions as templates whose
#: ``{loss}``, ``{predictor}``, ``{accuracy}``, ``{probe}`` and ``{lr_rule}`` the layer fills with the run's own.
MODEL_LAYER_VARIABLES: dict[str, dict[str, tuple[str, str, str]]] = _TABLES["model_layer"]


def describe(name: str, figure: str | None = None, coordinate: bool = False) -> tuple[str, str, str] | None:
    """(long_name, units, description) of variable ``name`` in this context, or ``None`` if unknown."""
    for table in (FIGURE_VARIABLES.get(figure or "", {}), COORDINATES if coordinate else VARIABLES,
                  VARIABLES if coordinate else COORDINATES):
        if name in table:
            return table[name]
    return None


class MissingMetadataWarning(UserWarning):
    """A dataset variable has no entry in grokjax/variables.json."""


class MissingMetadataError(ValueError):
    """Raised instead of the warning when ``GROKJAX_STRICT_METADATA`` is set (the test suite)."""


def annotate(ds: xr.Dataset, figure: str | None = None) -> xr.Dataset:
    """A copy of ``ds`` whose data variables and coordinates carry long_name, units and description.

    ``figure`` defaults to ``ds.attrs["figure"]``. Unknown names warn
    (:class:`MissingMetadataWarning`) or, with ``GROKJAX_STRICT_METADATA`` set, raise :class:`MissingMetadataError`.
    """
    ds = ds.copy()
    figure = figure or ds.attrs.get("figure")
    missing = []
    for name, var in ds.variables.items():
        if all(key in var.attrs for key in ATTRS):
            continue
        entry = describe(str(name), figure, coordinate=name in ds.coords)
        if entry is None:
            missing.append(str(name))
            continue
        for key, value in zip(ATTRS, entry):
            var.attrs.setdefault(key, value)
    ds.attrs.setdefault("conventions", CONVENTIONS)
    if missing:
        message = (f"dataset variables without long_name/units/description: {', '.join(missing)}; add them to "
                   "grokjax/variables.json (or set the three attributes on the variable)")
        if os.environ.get("GROKJAX_STRICT_METADATA"):
            raise MissingMetadataError(message)
        warnings.warn(message, MissingMetadataWarning, stacklevel=3)
    return ds
