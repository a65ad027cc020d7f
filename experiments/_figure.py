"""Shared pieces of the figure runners: the claim record, discovery and saving."""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from pathlib import Path
from typing import Any, Callable

SIZES = ("tiny", "small", "paper")


@dataclasses.dataclass(frozen=True)
class ClaimCheck:
    """The paper's claim for one figure and whether this run shows it.

    ``numbers`` holds the measured quantities the verdict is based on; ``details`` says how they were judged.
    """

    figure: str
    claim: str
    holds: bool
    numbers: dict[str, Any]
    details: str = ""

    def report(self) -> str:
        verdict = "HOLDS" if self.holds else "DOES NOT HOLD"
        nums = ", ".join(f"{k}={_fmt(v)}" for k, v in self.numbers.items())
        text = f"[{self.figure}] claim: {self.claim}\n[{self.figure}] {verdict}: {nums}"
        if self.details:
            text += f"\n[{self.figure}] {self.details}"
        return text


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _figure_modules() -> list[str]:
    import experiments

    return sorted(m.name for m in pkgutil.iter_modules(experiments.__path__) if m.name.startswith("fig_"))


def available_figures() -> dict[str, str]:
    """All figure names known to the CLI, with their descriptions."""
    out: dict[str, str] = {}
    for module_name in _figure_modules():
        module = importlib.import_module(f"experiments.{module_name}")
        out.update(getattr(module, "FIGURES", {}))
    return out


def find_figure(name: str) -> Callable[..., ClaimCheck] | None:
    """The ``make_figure`` function that draws figure ``name``, or ``None`` if no module provides it."""
    for module_name in _figure_modules():
        module = importlib.import_module(f"experiments.{module_name}")
        if name in getattr(module, "FIGURES", {}):
            return module.make_figure
    return None


def save_figure(fig: Any, out_dir: str | Path, name: str) -> list[Path]:
    """Save a matplotlib figure as PNG and PDF (atomically) into ``out_dir``; returns the paths."""
    import io

    from grokjax.store import atomic_write_bytes

    out_dir = Path(out_dir)
    paths = []
    for ext in ("png", "pdf"):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=ext, dpi=150, bbox_inches="tight")
        path = out_dir / f"{name}.{ext}"
        atomic_write_bytes(path, buffer.getvalue())
        paths.append(path)
    return paths
