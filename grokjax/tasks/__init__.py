"""Runnable tasks (``grokjax run <task>``).

Protocol: each task module defines a frozen dataclass ``Config`` (every field becomes a CLI flag; tuple
fields take several values and are swept), a method ``Config.validate()`` that raises
:class:`grokjax.ConfigError` naming the field, and ``run(config, quiet=False) -> xarray.Dataset`` returning a
labelled dataset (its ``attrs`` may hold a short ``summary`` string that the CLI prints).
"""
from __future__ import annotations

import importlib

TASKS: dict[str, str] = {
    "poly": "grokjax.tasks.poly",
    "modular": "grokjax.tasks.modular",
    "transformer": "grokjax.tasks.transformer",
    "mnist": "grokjax.tasks.mnist",
    "teacher": "grokjax.tasks.teacher",
}


def load_task(name: str):
    """Import and return the module implementing task ``name`` (``KeyError`` if unknown)."""
    return importlib.import_module(TASKS[name])
