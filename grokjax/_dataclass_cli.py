"""Turn a frozen config dataclass into argparse flags, and a config file plus flags back into the dataclass."""
from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

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


def add_config_arguments(parser: argparse.ArgumentParser, config_cls: type) -> None:
    """Add ``--<field>`` for every dataclass field (``--no-<field>`` for booleans) and ``--config FILE``."""
    hints = typing.get_type_hints(config_cls)
    parser.add_argument("--config", type=Path, default=None,
                        help="JSON or TOML file with config fields; flags given on the command line override it")
    for field in dataclasses.fields(config_cls):
        tp, is_seq = _base_type(hints[field.name])
        flag = "--" + field.name.replace("_", "-")
        default = field.default if field.default is not dataclasses.MISSING else None
        if tp is bool and not is_seq:
            parser.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction, default=None,
                                help=f"(default: {default})")
        else:
            parser.add_argument(flag, dest=field.name, type=tp, nargs="+" if is_seq else None, default=None,
                                help=f"(default: {default})")


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
        try:
            if is_seq:
                seq = value if isinstance(value, (list, tuple)) else [value]
                values[name] = tuple(tp(v) for v in seq)
            elif tp in (int, float, str, bool):
                if tp is bool and not isinstance(value, bool):
                    raise TypeError("expected true/false")
                if tp is int and isinstance(value, float) and not value.is_integer():
                    raise TypeError("expected an integer")
                values[name] = tp(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(name, f"cannot interpret {value!r} as {tp.__name__}: {exc}") from exc
    config = config_cls(**values)
    validate = getattr(config, "validate", None)
    if validate is not None:
        validate()
    return config
