"""Error types shared by the whole package (and by ``dmft``, which re-exports :class:`ConfigError`)."""
from __future__ import annotations


class ConfigError(ValueError):
    """An invalid configuration value, raised before any compute.

    ``field`` names the offending configuration field; the CLI turns this error into exit code 2.
    """

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"invalid value for '{field}': {message}")


def require(condition: bool, field: str, message: str) -> None:
    """Raise :class:`ConfigError` for ``field`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(field, message)


class CheckpointWarning(UserWarning):
    """A checkpoint file that does not prove to belong to this run (another sweep, another chunk, corrupt,
    truncated, empty) and is recomputed instead of reused; the CLI prints it as one line."""
