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
    """Import and return the module implementing task ``name`` (``KeyError`` if unknown); a user task
    (:func:`is_model_task`) gives :func:`model_task`'s module-like object (``ConfigError`` ``task`` if its file or
    function does not exist)."""
    if name not in TASKS and is_model_task(name):
        return model_task(name)
    return importlib.import_module(TASKS[name])


#: Entry-point group through which installed packages register their own tasks: ``name = "module:make_task"``
#: (``[project.entry-points."grokjax.tasks"]`` in their pyproject.toml); ``grokjax run name`` then runs it.
TASK_GROUP = "grokjax.tasks"


def is_model_task(name: str) -> bool:
    """Whether ``name`` is a user task: ``path/to/file.py:FUNCTION``, ``package.module:FUNCTION`` or a name
    registered under the ``grokjax.tasks`` entry-point group."""
    return ":" in name or name in _registered()


def _registered() -> dict[str, str]:
    from grokjax.figures import plugin_entry_points

    return plugin_entry_points(TASK_GROUP)


def _task_function(spec: str):
    """The function named by ``FILE.py:FUNCTION`` or ``module:FUNCTION`` (ConfigError ``task`` if missing)."""
    import importlib.util
    import sys
    from pathlib import Path

    from grokjax._errors import ConfigError

    source, _, attr = spec.rpartition(":")
    if not source or not attr:
        raise ConfigError("task", f"{spec!r}: expected FILE.py:FUNCTION or package.module:FUNCTION")
    if source.endswith(".py") or "/" in source or "\\" in source:
        path = Path(source)
        if not path.is_file():
            raise ConfigError("task", f"task file {source} does not exist")
        name = f"_grokjax_user_task_{abs(hash(str(path.resolve())))}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            raise ConfigError("task", f"importing {source} raised {type(exc).__name__}: {exc}") from exc
    else:
        try:
            module = importlib.import_module(source)
        except ImportError as exc:
            raise ConfigError("task", f"cannot import module {source!r}: {exc}") from exc
    fn = getattr(module, attr, None)
    if fn is None or not callable(fn):
        raise ConfigError("task", f"{source} has no function {attr!r}")
    return fn


def model_task(name: str):
    """A task-module-like object (``Config``, ``run(config, quiet)``, ``__doc__``, ``NAME``) for a user task
    (:func:`is_model_task`): ``make_task()`` must return a :class:`grokjax.Model`; it is called when the task is
    run, and the model is checked (:func:`grokjax.check_model`) before any compute."""
    from types import SimpleNamespace

    from grokjax._lazy_rich import LazyRichConfig, Model, run_model
    from grokjax._errors import ConfigError

    fn = _task_function(_registered().get(name, name))

    def run(config, quiet: bool = False):
        try:
            model = fn()
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError("task", f"{name}() raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(model, Model):
            raise ConfigError("task", f"{name} must return a grokjax.Model(apply, init, data, loss, ...), returned "
                              f"{type(model).__name__}")
        return run_model(model, config)

    doc = (fn.__doc__ or "").strip()
    stem = name.rpartition(":")[2] if ":" in name else name
    return SimpleNamespace(Config=LazyRichConfig, run=run, NAME=stem,
                           __doc__=(f"{doc}\n\n" if doc else "") + "Your own model on the lazy-vs-rich layer "
                           "(grokjax.run_model): alpha-scaled predictor and its exact linearisation trained side by "
                           "side; every flag below is a field of grokjax.LazyRichConfig.")
