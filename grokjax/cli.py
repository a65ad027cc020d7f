"""The ``grokjax`` command line.

    grokjax run TASK [--config FILE] [--<field> VALUE ...] [--out PATH]   train and save a labelled dataset
    grokjax figure NAME [--size tiny|small|paper] [--out figures/]        regenerate a paper figure + check its claim
    grokjax compare dmft [...]                                            DMFT theory against simulation
    grokjax reproduce [--size small]                                      every figure, one claims table
    grokjax list                                                          known tasks and figures

Invalid input (bad field values, unknown task or figure, malformed config file) exits with code 2 and a
message naming the field, before any compute and without writing anything.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from grokjax._errors import ConfigError

EXIT_BAD_INPUT = 2


def _fail(message: str) -> int:
    print(f"grokjax: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _cmd_list(_: argparse.Namespace) -> int:
    from grokjax.figures import available_figures, seeded_figures
    from grokjax.tasks import TASKS

    print("tasks:   " + ", ".join(sorted(TASKS)))
    from grokjax.tasks import TASK_GROUP, _registered

    registered = _registered()
    print(f"your own model: grokjax run FILE.py:FUNCTION | module:FUNCTION"
          + (f" | {', '.join(sorted(registered))} ('{TASK_GROUP}' entry points)" if registered else ""))
    print("figures (* takes --seeds):")
    seeded = seeded_figures()
    for name, description in available_figures().items():
        print(f"  {name + (' *' if name in seeded else ''):<16} {description}")
    return 0


def _cmd_run(argv: list[str]) -> int:
    from grokjax._dataclass_cli import StoreOnce, add_config_arguments, config_from_arguments
    from grokjax.tasks import TASKS, is_model_task, load_task

    if not argv or argv[0] in ("-h", "--help"):
        print("usage: grokjax run TASK [--help] [flags]\ntasks: " + ", ".join(sorted(TASKS)) + "\nyour own model: "
              "grokjax run path/to/file.py:make_task | package.module:make_task | a name registered under the "
              "'grokjax.tasks' entry-point group (make_task() returns a grokjax.Model)")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in TASKS and not is_model_task(name):
        return _fail(f"invalid value for 'task': unknown task {name!r} (known: {', '.join(sorted(TASKS))}; or "
                     "FILE.py:FUNCTION / module:FUNCTION for your own model)")
    try:
        module = load_task(name)
    except ConfigError as exc:
        return _fail(str(exc))
    stem = getattr(module, "NAME", name)  # a user task's default --out is results/<FUNCTION>.nc
    parser = argparse.ArgumentParser(prog=f"grokjax run {name}", description=module.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser, module.Config)
    parser.add_argument("--out", type=Path, default=Path("results") / f"{stem}.nc", action=StoreOnce,
                        help="where to write the labelled dataset (netCDF) (default: results/%(prog)s.nc)".replace(
                            "%(prog)s", stem))
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file (default: refuse)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or compiling notice")
    args = parser.parse_args(rest)
    try:
        config = config_from_arguments(module.Config, args)
        from grokjax.store import check_writable

        check_writable(args.out, "out", overwrite=args.overwrite)
        checkpoint_dir = getattr(config, "checkpoint_dir", "")
        from grokjax._outputs import check_distinct

        check_distinct({"out": args.out}, folders={"checkpoint_dir": checkpoint_dir})
        if checkpoint_dir:
            check_writable(checkpoint_dir, "checkpoint_dir", directory=True)
    except ConfigError as exc:
        return _fail(str(exc))
    if not args.quiet:
        print(f"[grokjax] {name}: compiling (the first step waits for XLA) ...", file=sys.stderr, flush=True)
    import jax

    from grokjax.store import output_lock, save_dataset

    missing = [d for d in (args.out.parent, *args.out.parent.parents) if not d.exists()]  # removed if refused
    try:
        multi_host = getattr(config, "distributed", False) or getattr(config, "coordinator_address", "")
        # the whole run holds the output's lock (a second writer is refused at once); multi-host processes
        # share one output, which process 0 writes under the lock inside save_dataset
        with contextlib.nullcontext() if multi_host else output_lock(args.out):
            ds = module.run(config, quiet=args.quiet)
            if jax.process_index() != 0:  # multi-host: every process holds the full dataset; process 0 writes it
                return 0
            resolved = config.resolved() if hasattr(config, "resolved") else config  # presets filled in
            path = save_dataset(ds, args.out, config=resolved, task=name, overwrite=args.overwrite)
    except ConfigError as exc:  # refused before compute (e.g. a sweep that cannot fit in memory)
        for folder in missing:  # deepest first: leave nothing behind
            try:
                folder.rmdir()
            except OSError:
                break
        return _fail(str(exc))
    summary = ds.attrs.get("summary")
    if summary:
        print(summary)
    print(f"wrote {path}")
    return 0


def _cmd_figure(args: argparse.Namespace) -> int:
    from grokjax._command_options import FigureOptions
    from grokjax._dataclass_cli import config_from_arguments
    from grokjax.figures import make_figure

    options = config_from_arguments(FigureOptions, args)  # declared once: flags, checks, errors (exit 2)
    from_path = options.from_path
    if from_path is not None and not Path(from_path).is_file():
        return _fail(f"invalid value for 'from': {from_path} is not a dataset file")
    size = options.size or "small"
    out = Path(options.out) if options.out is not None else None
    if out is None and from_path is not None:  # beside the dataset's figure: <out>/data/NAME.nc -> <out>/
        out = Path(from_path).resolve().parent.parent
    out = default_out_dir(out, size)
    from grokjax.store import check_writable

    check_writable(out, "out", directory=True)
    seeds = list(options.seeds) if options.seeds is not None else None
    check, written = make_figure(options.figure, size, out, quiet=options.quiet, from_path=from_path, seeds=seeds,
                                 formats=options.formats)
    print(check.report())
    for path in written:
        print(f"wrote {path}")
    return 0


def default_out_dir(out: Path | None, size: str) -> Path:
    """``figures/`` for the small size, ``figures/<size>/`` for the others, unless ``--out`` is given."""
    if out is not None:
        return out
    return Path("figures") if size == "small" else Path("figures") / size


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from grokjax._command_options import ReproduceOptions
    from grokjax._dataclass_cli import config_from_arguments
    from grokjax._reproduce import reproduce

    options = config_from_arguments(ReproduceOptions, args)  # declared once: flags, checks, errors (exit 2)
    out = default_out_dir(Path(options.out) if options.out is not None else None, options.size)
    from grokjax.store import check_writable

    check_writable(out, "out", directory=True)
    from grokjax._reproduce import existing_rows

    existing_rows(out, options.size, options.overwrite)  # a claims table that cannot be merged: refused first
    return reproduce(size=options.size, out_dir=out, only=list(options.only) if options.only else None,
                     quiet=options.quiet, overwrite=options.overwrite)


def _cmd_compare(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: grokjax compare dmft [--help] [flags]")
        return 0
    from grokjax.figures import command

    main = command(f"compare-{argv[0]}")
    if main is None:
        return _fail(f"invalid value for 'comparison': unknown comparison {argv[0]!r} (known: dmft)")
    return main(argv[1:])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grokjax", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="train a task and save a labelled dataset (grokjax run TASK --help)", add_help=False)
    sub.add_parser("compare", help="theory against simulation (grokjax compare dmft --help)", add_help=False)
    from grokjax._command_options import FigureOptions, ReproduceOptions
    from grokjax._dataclass_cli import add_config_arguments

    fig = sub.add_parser("figure", help="regenerate a paper figure and check its claim")
    add_config_arguments(fig, FigureOptions, config_file=False)  # flags from the declared options
    rep = sub.add_parser("reproduce", help="run every figure and write figures/CLAIMS.md")
    add_config_arguments(rep, ReproduceOptions, config_file=False)
    sub.add_parser("list", help="list tasks and figures")
    return parser


def _one_line_warnings() -> None:
    """Checkpoint warnings (a chunk recomputed instead of reused) print as one line, without source location."""
    import warnings

    from grokjax._errors import CheckpointWarning

    original = warnings.showwarning
    if getattr(original, "_grokjax_one_line", False):
        return

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, CheckpointWarning):
            print(f"grokjax: warning: {message}", file=sys.stderr, flush=True)
        else:
            original(message, category, filename, lineno, file, line)

    show._grokjax_one_line = True
    warnings.showwarning = show


def main(argv: list[str] | None = None) -> int:
    """Run the command line; SIGINT / SIGTERM end it with one line and exit 130 / 143 (grokjax._interrupt)."""
    from grokjax._interrupt import handled

    _one_line_warnings()
    with handled():
        return _main(argv)


def _main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "run":
            return _cmd_run(argv[1:])
        if argv and argv[0] == "compare":
            return _cmd_compare(argv[1:])
        args = build_parser().parse_args(argv)
        if args.command == "figure":
            return _cmd_figure(args)
        if args.command == "reproduce":
            return _cmd_reproduce(args)
        return _cmd_list(args)
    except ConfigError as exc:
        return _fail(str(exc))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
