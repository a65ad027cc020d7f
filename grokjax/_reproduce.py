"""``grokjax reproduce``: run every figure at one size and write one claims table.

Each figure module registered under the ``grokjax.figures`` entry-point group is imported on its own; a module that fails to import, a figure that
raises, or an unknown name in ``only`` becomes an ERROR row and the run goes on. The table (figure, claim,
measured numbers, verdict, wall time) is printed and written atomically to ``<out_dir>/CLAIMS.md`` after every
figure, so an interrupted run still leaves the rows it finished. Rows are also kept in ``CLAIMS.json``: re-running
a subset (``--only``) at the same size replaces those rows and keeps the others. A claims table that cannot be
merged (``CLAIMS.json`` of another size, unreadable, or missing beside an existing ``CLAIMS.md``) is refused before
any figure runs (:class:`grokjax.ConfigError` on ``out``) unless ``overwrite``: a table never shrinks silently.
"""
from __future__ import annotations

import importlib
import json
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

from grokjax._errors import ConfigError
from grokjax.store import atomic_write_bytes, check_writable


@dataclass
class Row:
    figure: str
    claim: str
    measured: str
    verdict: str  # "holds", "does not hold" or "ERROR"
    wall_s: float
    run: str = ""  # the reproduce run the row comes from: its start time (UTC, ISO 8601); "" in older tables
    commit: str = ""  # grokjax commit of that run (grokjax.store.git_provenance; "+dirty" if modified), "" older


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


def _provenance_line(rows: Sequence[Row]) -> str:
    """Where the rows come from: one run at one commit, or which runs and commits (a merged table says so)."""
    runs = sorted({(r.run or "unrecorded", r.commit or "unrecorded") for r in rows})
    if len(runs) == 1:
        run, commit = runs[0]
        return (f"Every row, plot and dataset comes from one `grokjax reproduce` run (started {run}) at grokjax "
                f"commit `{commit}` (each dataset records it: `git_commit`, `git_dirty`).")
    parts = [f"{sum((r.run or 'unrecorded', r.commit or 'unrecorded') == k for r in rows)} rows from the run "
             f"started {k[0]} at commit `{k[1]}`" for k in runs]
    return f"Rows merged from {len(runs)} runs: " + "; ".join(parts) + "."


def render(rows: Sequence[Row], size: str) -> str:
    held = sum(r.verdict == "holds" for r in rows)
    failed = sum(r.verdict == "does not hold" for r in rows)
    errors = sum(r.verdict == "ERROR" for r in rows)
    lines = [f"# Claims checked by `grokjax reproduce --size {size}`", "",
             f"{held} hold, {failed} do not hold, {errors} errors; total wall time "
             f"{sum(r.wall_s for r in rows):.0f} s.", "", _provenance_line(rows), "",
             "| figure | claim | measured | verdict | wall (s) |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {_cell(r.figure)} | {_cell(r.claim)} | {_cell(r.measured, 900)} | **{r.verdict}** | "
                     f"{r.wall_s:.0f} |")
    return "\n".join(lines) + "\n"


def existing_rows(out_dir: str | Path, size: str, overwrite: bool = False) -> list[Row]:
    """The rows of the claims table already in ``out_dir`` (to merge new rows into), checked before compute:
    a table of another size, an unreadable ``CLAIMS.json``, or a ``CLAIMS.md`` without its ``CLAIMS.json`` is
    refused (``ConfigError`` on ``out``) unless ``overwrite`` (then it is replaced)."""
    out_dir = Path(out_dir)
    path, store = out_dir / "CLAIMS.md", out_dir / "CLAIMS.json"
    for target in (path, store):
        check_writable(target, "out", overwrite=True)
    hint = "; pass --overwrite to replace it, or choose another --out"
    if not store.exists():
        if path.exists() and not overwrite:
            raise ConfigError("out", f"{path} exists without its CLAIMS.json, so its rows cannot be kept{hint}")
        return []
    try:
        saved = json.loads(store.read_text())
        rows = [Row(**r) for r in saved["rows"]]
        saved_size = saved["size"]
    except Exception as exc:  # noqa: BLE001 - JSONDecodeError, KeyError, TypeError, UnicodeDecodeError, OSError
        if overwrite:
            return []
        raise ConfigError("out", f"{store} is unreadable ({type(exc).__name__}), so its rows cannot be kept{hint}") \
            from None
    if saved_size != size:
        if overwrite:
            return []
        raise ConfigError("out", f"{store} holds {len(rows)} rows of size {saved_size!r}, not {size!r}{hint}")
    return rows


def reproduce(size: str = "small", out_dir: str | Path = "figures", only: Sequence[str] | None = None,
              quiet: bool = False, overwrite: bool = False) -> int:
    """Run every figure (or those named in ``only``) at ``size``; print and write ``<out_dir>/CLAIMS.md``, merging
    the rows into an existing table of the same size (see :func:`existing_rows`)."""
    out_dir = Path(out_dir)
    previous = existing_rows(out_dir, size, overwrite)  # before any compute
    from grokjax._interrupt import make_dirs

    make_dirs(out_dir)  # removed on interrupt if still empty
    makers, rows = discover()
    from datetime import datetime, timezone

    from grokjax.store import git_provenance

    git = git_provenance()
    stamp = {"run": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "commit": git["git_commit"] + ("+dirty" if git["git_dirty"] == "true" else "")}
    rows = [Row(**{**asdict(r), **stamp}) for r in rows]
    names = list(only) if only else list(makers)
    path = out_dir / "CLAIMS.md"
    store = out_dir / "CLAIMS.json"
    kept = [r for r in previous if r.figure not in names]  # the other figures' rows stay

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
            rows.append(Row(name, "unknown figure", f"no figure module provides {name!r}", "ERROR", 0.0, **stamp))
            continue
        if not quiet:
            print(f"[reproduce] {name} ({size}) ...", flush=True)
        start = time.perf_counter()
        try:
            check = makers[name](name, size, out_dir, quiet=quiet)
            row = Row(name, check.claim, _numbers(check), "holds" if check.holds else "does not hold",
                      time.perf_counter() - start, **stamp)
            if not quiet:
                print(check.report(), flush=True)
        except Exception as exc:  # noqa: BLE001 - one failing figure must not stop the others
            tail = traceback.format_exc().strip().splitlines()[-1]
            row = Row(name, "(figure raised)", f"{type(exc).__name__}: {exc} [{tail}]", "ERROR",
                      time.perf_counter() - start, **stamp)
            if not quiet:
                print(f"[reproduce] {name} FAILED: {type(exc).__name__}: {exc}", flush=True)
        rows.append(row)
        write(rows)
    text = write(rows)
    print(text)
    print(f"[reproduce] wrote {path}")
    return 0
