"""Turn a frozen config dataclass into argparse flags, and a config file plus flags back into the dataclass."""
from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, Mapping, Sequence

from grokjax._errors import ConfigError

try:  # Python >= 3.11
    import tomllib
except ImportError:  # pragma: no cover
    tomllib = None


def _base_type(tp: Any) -> tuple[Any, bool]:
    """(element type, is_sequence) for a field annotation."""
    origin = typing.get_origin(tp)
    if origin in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return (args[0] if args else str), True
    if origin is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _base_type(args[0])
    return tp, False


@functools.lru_cache(maxsize=None)
def _source_comments(config_cls: type) -> Mapping[str, str]:
    """``# comment`` after each field line of a dataclass's source (help text for fields without metadata); read
    once per class and process (``inspect.getsource`` re-reads the module's file: ~3 ms a call, paid by every
    parser built in-process before)."""
    import inspect

    try:
        lines = inspect.getsource(config_cls).splitlines()
    except (OSError, TypeError):
        return types.MappingProxyType({})
    found = {}
    for line in lines:
        match = re.match(r"\s+(\w+)\s*:[^#]*#\s*(.+)$", line)
        if match:
            found[match.group(1)] = match.group(2).strip()
    return types.MappingProxyType(found)


def field_help(config_cls: type, defaults: Mapping[str, Any] = {}) -> dict[str, str]:
    """Help text of every field: its description, allowed values and default (``defaults`` overrides a field's
    own, for a command whose defaults differ)."""
    comments = _source_comments(config_cls)
    out = {}
    for field in dataclasses.fields(config_cls):
        text = field.metadata.get("help") or comments.get(field.name) or field.name.replace("_", " ")
        choices = field.metadata.get("choices")
        if choices:
            text += f"; one of {', '.join(map(str, choices))}"
        default = field.default if field.default is not dataclasses.MISSING else None
        default = defaults.get(field.name, default)
        if isinstance(default, tuple):
            default = " ".join(map(str, default))
        stated = field.metadata.get("positional") or "(default" in text  # the help says it already
        suffix = "" if stated else f" (default: {default})"
        out[field.name] = f"{text}{suffix}".replace("%", "%%")
    return out


class _Once:
    """An option given twice is refused (ConfigError naming its field, exit 2), not silently replaced by the last
    occurrence (argparse's own behaviour): ``--seeds 0 --seeds 1`` or ``--quiet --no-quiet`` is a mistake."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = namespace.__dict__.setdefault("_grokjax_given", {})
        if self.dest in given:
            raise ConfigError(self.dest, f"given twice ({given[self.dest]} and {option_string}); give it once")
        given[self.dest] = option_string
        super().__call__(parser, namespace, values, option_string)


class StoreOnce(_Once, argparse._StoreAction):
    """argparse's ``store`` action, refusing a second occurrence (for a command's own flags beside the declared
    ones)."""


class _BooleanOnce(_Once, argparse.BooleanOptionalAction):
    pass


def add_config_arguments(parser: argparse.ArgumentParser, config_cls: type, *, config_file: bool = True,
                         only: Sequence[str] | None = None, defaults: Mapping[str, Any] = {}) -> None:
    """Add ``--<field>`` for every dataclass field (``--no-<field>`` for booleans; the declared ``flag`` name where
    it has one, a positional argument where declared ``positional``) and, with ``config_file``, ``--config FILE``.
    List fields take space-separated values (``--alpha 0.5 1 2``). ``only``: these fields only; ``defaults``:
    the command's own defaults where they differ from the fields' (shown in the help, set on the parser)."""
    hints = typing.get_type_hints(config_cls)
    helps = field_help(config_cls, defaults)
    # a negative number is a value, not a flag name: "--alpha -1e-3", "--eps -inf" reach the field's check
    # (argparse's own pattern only knows "-1" and "-.5")
    parser._negative_number_matcher = re.compile(
        r"^-(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$|^-(?:inf|infinity|nan)$", re.IGNORECASE)
    if config_file:
        parser.add_argument("--config", type=Path, default=None, action=StoreOnce,
                            help="JSON or TOML file with config fields; flags given on the command line override it")
    for field in dataclasses.fields(config_cls):
        if only is not None and field.name not in only:
            continue
        tp, is_seq = _base_type(hints[field.name])
        flag = "--" + (field.metadata.get("flag") or field.name).replace("_", "-")
        if field.metadata.get("positional"):
            parser.add_argument(field.name, type=tp, help=helps[field.name])
        elif tp is bool and not is_seq:
            parser.add_argument(flag, dest=field.name, action=_BooleanOnce, default=None,
                                help=helps[field.name])
        else:
            parser.add_argument(flag, dest=field.name, type=tp, nargs="+" if is_seq else None, action=StoreOnce,
                                default=defaults.get(field.name), metavar=field.name.upper(), help=helps[field.name])


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError("config", f"cannot read config file {path}: {exc}") from exc
    try:
        if path.suffix == ".toml":
            if tomllib is None:  # pragma: no cover
                raise ConfigError("config", "TOML needs Python >= 3.11; use JSON")
            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except (ValueError, TypeError) as exc:
        raise ConfigError("config", f"malformed config file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError("config", f"config file {path} must hold a mapping of field names to values")
    return data


def _coerce(name: str, tp: Any, value: Any) -> Any:
    """A flag or config-file value as ``tp``: no bool for numbers, no strings for numbers or booleans, finite."""
    if tp not in (int, float, str, bool):
        return value
    ok = {bool: isinstance(value, bool),
          int: isinstance(value, int) and not isinstance(value, bool),
          float: isinstance(value, (int, float)) and not isinstance(value, bool),
          str: isinstance(value, str)}[tp]
    if not ok:
        raise ConfigError(name, f"expected {'true/false' if tp is bool else 'a ' + tp.__name__}, got {value!r}")
    if tp is float:
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(name, f"must be finite, got {value!r}")
    return value


def config_from_arguments(config_cls: type, args: argparse.Namespace) -> Any:
    """Build and validate ``config_cls`` from ``--config`` and the flags (flags win)."""
    hints = typing.get_type_hints(config_cls)
    names = {f.name for f in dataclasses.fields(config_cls)}
    values: dict[str, Any] = {}
    if getattr(args, "config", None) is not None:
        for key, value in _read_config_file(args.config).items():
            key = key.replace("-", "_")
            if key not in names:
                raise ConfigError(key, f"unknown config field (known: {', '.join(sorted(names))})")
            values[key] = value
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            values[name] = value
    for name, value in list(values.items()):
        tp, is_seq = _base_type(hints[name])
        if is_seq:
            seq = list(value) if isinstance(value, (list, tuple)) else [value]
            if not seq:
                raise ConfigError(name, "needs at least one value")
            values[name] = tuple(_coerce(name, tp, v) for v in seq)
            zipped = values.get("mode") == "zip" and "seed" not in name  # zip pairs lists element-wise
            if not zipped and len(set(values[name])) != len(seq):
                raise ConfigError(name, f"has duplicate values {list(seq)}")
        elif value is not None or tp not in (int, float, str, bool):
            values[name] = _coerce(name, tp, value)
    config = config_cls(**values)
    validate = getattr(config, "validate", None)
    if validate is not None:
        validate()
    return config
