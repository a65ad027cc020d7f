"""Outputs never collide: the output paths of one command (dataset, plot, claims table, checkpoint folder) must be
distinct files, checked before any compute (see also :func:`grokjax.store.check_writable`)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from grokjax._errors import ConfigError


def _key(path: str | Path) -> str:
    return os.path.normcase(os.path.realpath(os.path.expanduser(str(path))))


def check_distinct(paths: Mapping[str, str | Path | None], *, folders: Mapping[str, str | Path | None] = {}) -> None:
    """Raise :class:`ConfigError` naming the second of two output ``paths`` (field -> file) that are the same
    file (after resolving ``..``, ``~`` and symbolic links), or a file that is one of the ``folders`` (field ->
    folder) or an ancestor of one. ``None`` or empty entries are skipped."""
    seen: dict[str, str] = {}
    for field, path in paths.items():
        if not path:
            continue
        key = _key(path)
        if key in seen:
            raise ConfigError(field, f"{path} is the same file as --{seen[key].replace('_', '-')}; the second would "
                              "overwrite the first: give another path")
        seen[key] = field
    for folder_field, folder in folders.items():
        if not folder:
            continue
        folder_key = _key(folder)
        for key, field in seen.items():
            if folder_key == key or folder_key.startswith(key.rstrip(os.sep) + os.sep):
                raise ConfigError(folder_field, f"{folder} collides with the --{field.replace('_', '-')} file "
                                  f"{paths[field]}; give another folder")
