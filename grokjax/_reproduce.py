"""``grokjax reproduce``: run every figure at one size and write one claims table.

Each figure module registered under the ``grokjax.figures`` entry-point group is imported on its own; a module that fails to import, a figure that
raises, or an unknown name in ``only`` becomes an ERROR row and the run goes on. The table (figure, claim,
measured numbers, verdict, wall time) is printed and written atomically to ``<out_dir>/CLAIMS.md`` after every
figure, so an interrupted run still leaves the rows it finished. Rows are also kept in ``CLAIMS.json``: re-running
a subset (``--only``) at the same size replaces those rows and keeps the others.
"""
from __future__ import annotations

import importlib
import json
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

from grokjax.store import atomic_write_bytes


@dataclass
class Row:
    figure: str
    claim: str
    measured: str
    verdict: str  # "holds", "does not hold" or "ERROR"
    wall_s: float


def discover() -> tuple[dict[str, Callable], list[Row]]:
    """Map figure name -> a maker ``(name, size, out_dir, quiet) -> ClaimCheck``; modules that fail to import
    become ERROR rows."""
    from grokjax.figures import figure_modules, make_figure

    makers: dict[str, Callable] = {}
    errors: list[Row] = []
    for module_name in figure_modules():
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            errors.append(Row(f"({module_name})", "module import", f"{type(exc).__name__}: {exc}", "ERROR", 0.0))
            continue
        for name in getattr(module, "FIGURES", {}):
            makers[name] = lambda n, size, out_dir, quiet=False: make_figure(n, size, out_dir, quiet=quiet)[0]
    return makers, errors


def _cell(text: str, limit: int = 600) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _numbers(check) -> str:
    from grokjax.figures import format_number

    return "; ".join(f"{k}={format_number(v)}" for k, v in check.numbers.items())


def render(rows: Sequence[Row], size: str) -> str:
    held = sum(r.verdict == "holds" for r in rows)
    failed = sum(r.verdict == "does not hold" for r in rows)
    errors = sum(r.verdict == "ERROR" for r in rows)
    lines = [f"# Claims checked by `grokjax reproduce --size {size}`", "",
             f"{held} hold, {failed} do not hold, {errors} errors; total wall time "
             f"{sum(r.wall_s for r in rows):.0f} s.", "",
             "| figure | claim | measured | verdict | wall (s) |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {_cell(r.figure)} | {_cell(r.claim)} | {_cell(r.measured, 900)} | **{r.verdict}** | "
                     f"{r.wall_s:.0f} |")
    return "\n".join(lines) + "\n"


def reproduce(size: str = "small", out_dir: str | Path = "figures", only: Sequence[str] | None = None,
              quiet: bool = False) -> int:
    """Run every figure (or those named in ``only``) at ``size``; print and write ``<out_dir>/CLAIMS.md``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    makers, rows = discover()
    names = list(only) if only else list(makers)
    path = out_dir / "CLAIMS.md"
    store = out_dir / "CLAIMS.json"
    kept: list[Row] = []
    if only and store.exists():  # re-running a subset keeps the other figures' rows of the same size
        saved = json.loads(store.read_text())
        if saved.get("size") == size:
            kept = [Row(**r) for r in saved["rows"] if r["figure"] not in names]

    def write(current: list[Row]) -> str:
        order = {n: i for i, n in enumerate(makers)}
        fresh = {r.figure for r in current}
        merged = sorted([r for r in kept if r.figure not in fresh] + current,
                        key=lambda r: order.get(r.figure, len(order)))
        atomic_write_bytes(store, json.dumps({"size": size, "rows": [asdict(r) for r in merged]}).encode())
        text = render(merged, size)
        atomic_write_bytes(path, text.encode())
        return text

    for name in names:
        if name not in makers:
            rows.append(Row(name, "unknown figure", f"no figure module provides {name!r}", "ERROR", 0.0))
            continue
        if not quiet:
            print(f"[reproduce] {name} ({size}) ...", flush=True)
        start = time.perf_counter()
        try:
            check = makers[name](name, size, out_dir, quiet=quiet)
            row = Row(name, check.claim, _numbers(check), "holds" if check.holds else "does not hold",
                      time.perf_counter() - start)
            if not quiet:
                print(check.report(), flush=True)
        except Exception as exc:  # noqa: BLE001 - one failing figure must not stop the others
            tail = traceback.format_exc().strip().splitlines()[-1]
            row = Row(name, "(figure raised)", f"{type(exc).__name__}: {exc} [{tail}]", "ERROR",
                      time.perf_counter() - start)
            if not quiet:
                print(f"[reproduce] {name} FAILED: {type(exc).__name__}: {exc}", flush=True)
        rows.append(row)
        write(rows)
    text = write(rows)
    print(text)
    print(f"[reproduce] wrote {path}")
    return 0
