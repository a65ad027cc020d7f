"""Errors of the DMFT package (independent of ``grokjax``; same contract as its ``ConfigError``)."""
from __future__ import annotations


class ConfigError(ValueError):
    """An invalid configuration value, raised by ``validate()`` before any compute; ``field`` names it."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"invalid value for '{field}': {message}")


class DMFTConvergenceError(RuntimeError):
    """The fixed-point iteration did not reach the tolerance; ``residuals`` holds one norm per sweep."""

    def __init__(self, message: str, residuals):
        self.residuals = list(residuals)
        tail = ", ".join(f"{r:.3e}" for r in self.residuals[-5:])
        super().__init__(f"{message} (residual history, last 5 of {len(self.residuals)}: {tail})")
