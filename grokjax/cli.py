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
    from grokjax._dataclass_cli import add_config_arguments, config_from_arguments
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
    parser.add_argument("--out", type=Path, default=Path("results") / f"{stem}.nc",
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
    from grokjax.figures import find_module, make_figure

    find_module(args.name)  # an unknown figure is refused first (ConfigError naming 'figure')

    if args.from_path is not None and not Path(args.from_path).is_file():
        return _fail(f"invalid value for 'from': {args.from_path} is not a dataset file")
    if args.from_path is not None and args.size is not None:
        return _fail("invalid value for 'size': --size has no effect with --from (the saved dataset fixes the size)")
    if args.from_path is not None and args.seeds is not None:
        return _fail("invalid value for 'seeds': --seeds has no effect with --from (the saved dataset fixes the seeds)")
    from grokjax.figures import check_figure_seeds

    args.seeds = check_figure_seeds(args.name, args.seeds)
    args.size = args.size or "small"
    out = args.out
    if out is None and args.from_path is not None:  # beside the dataset's figure: <out>/data/NAME.nc -> <out>/
        out = Path(args.from_path).resolve().parent.parent
    out = default_out_dir(out, args.size)
    from grokjax.store import check_writable

    check_writable(out, "out", directory=True)
    check, written = make_figure(args.name, args.size, out, quiet=args.quiet, from_path=args.from_path,
                                 seeds=args.seeds)
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
    from grokjax._reproduce import reproduce
    from grokjax.figures import available_figures

    known = available_figures()
    for name in args.only or []:
        if name not in known:
            return _fail(f"invalid value for 'only': unknown figure {name!r} (known: {', '.join(known)})")
    if args.only and len(set(args.only)) != len(args.only):
        return _fail(f"invalid value for 'only': duplicate figures {args.only}")
    out = default_out_dir(args.out, args.size)
    from grokjax.store import check_writable

    check_writable(out, "out", directory=True)
    from grokjax._reproduce import existing_rows

    existing_rows(out, args.size, args.overwrite)  # a claims table that cannot be merged: refused before compute
    return reproduce(size=args.size, out_dir=out, only=args.only, quiet=args.quiet, overwrite=args.overwrite)


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
    from grokjax.figures import SIZES

    parser = argparse.ArgumentParser(prog="grokjax", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="train a task and save a labelled dataset (grokjax run TASK --help)", add_help=False)
    sub.add_parser("compare", help="theory against simulation (grokjax compare dmft --help)", add_help=False)
    out_help = "output folder (default: figures/ for small, figures/<size>/ for the others"
    fig = sub.add_parser("figure", help="regenerate a paper figure and check its claim")
    fig.add_argument("name", help="figure name (grokjax list shows them)")
    fig.add_argument("--size", choices=SIZES, default=None, help="tiny (tests), small (CPU minutes) or paper "
                     "(default: small; not with --from)")
    fig.add_argument("--from", dest="from_path", type=Path, default=None,
                     help="re-judge and re-plot from this saved dataset without computing (default: compute)")
    fig.add_argument("--out", type=Path, default=None, help=out_help + "; with --from: the dataset's figure folder)")
    fig.add_argument("--seeds", type=int, nargs="+", default=None, metavar="SEED",
                     help="init/data seeds, space-separated: curves are seed means with a ±1 SEM band and the claim "
                     "is judged on the seed means (default: the figure's own seed(s); grokjax list marks the "
                     "figures that take seeds; not with --from)")
    fig.add_argument("--quiet", action="store_true", help="no progress bar")
    rep = sub.add_parser("reproduce", help="run every figure and write figures/CLAIMS.md")
    rep.add_argument("--size", choices=SIZES, default="small", help="tiny, small or paper (default: small)")
    rep.add_argument("--out", type=Path, default=None, help=out_help + ")")
    rep.add_argument("--only", nargs="+", default=None, metavar="NAME",
                     help="only these figures, space-separated (default: all)")
    rep.add_argument("--quiet", action="store_true", help="no progress bars")
    rep.add_argument("--overwrite", action="store_true", help="replace a claims table in --out that cannot be merged "
                     "(another size, unreadable) instead of refusing (default: merge rows, or refuse)")
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
