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
import sys
from pathlib import Path

from grokjax._errors import ConfigError

EXIT_BAD_INPUT = 2


def _fail(message: str) -> int:
    print(f"grokjax: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _cmd_list(_: argparse.Namespace) -> int:
    from experiments import available_figures
    from grokjax.tasks import TASKS

    print("tasks:   " + ", ".join(TASKS))
    print("figures:")
    for name, description in available_figures().items():
        print(f"  {name:<16} {description}")
    return 0


def _cmd_run(argv: list[str]) -> int:
    from grokjax._dataclass_cli import add_config_arguments, config_from_arguments
    from grokjax.tasks import TASKS, load_task

    if not argv or argv[0] in ("-h", "--help"):
        print("usage: grokjax run TASK [--help] [flags]\ntasks: " + ", ".join(TASKS))
        return 0
    name, rest = argv[0], argv[1:]
    if name not in TASKS:
        return _fail(f"invalid value for 'task': unknown task {name!r} (known: {', '.join(TASKS)})")
    module = load_task(name)
    parser = argparse.ArgumentParser(prog=f"grokjax run {name}", description=module.__doc__)
    add_config_arguments(parser, module.Config)
    parser.add_argument("--out", type=Path, default=Path("results") / f"{name}.nc",
                        help="where to write the labelled dataset (netCDF)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(rest)
    try:
        config = config_from_arguments(module.Config, args)
    except ConfigError as exc:
        return _fail(str(exc))
    import jax

    from grokjax.store import save_dataset

    try:
        ds = module.run(config, quiet=args.quiet)
    except ConfigError as exc:  # refused before compute (e.g. a sweep that cannot fit in memory)
        return _fail(str(exc))
    if jax.process_index() != 0:  # multi-host: every process holds the full dataset; process 0 writes it
        return 0
    resolved = config.resolved() if hasattr(config, "resolved") else config  # presets filled in
    path = save_dataset(ds, args.out, config=resolved, task=name)
    summary = ds.attrs.get("summary")
    if summary:
        print(summary)
    print(f"saved {path}")
    return 0


def _cmd_figure(args: argparse.Namespace) -> int:
    from experiments import available_figures, find_figure

    make = find_figure(args.name)
    if make is None:
        return _fail(f"invalid value for 'figure': unknown figure {args.name!r} "
                     f"(known: {', '.join(available_figures())})")
    check = make(args.name, args.size, default_out_dir(args.out, args.size), quiet=args.quiet)
    print(check.report())
    return 0


def default_out_dir(out: Path | None, size: str) -> Path:
    """``figures/`` for the small size, ``figures/<size>/`` for the others, unless ``--out`` is given."""
    if out is not None:
        return out
    return Path("figures") if size == "small" else Path("figures") / size


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from experiments.reproduce import reproduce

    return reproduce(size=args.size, out_dir=default_out_dir(args.out, args.size), only=args.only,
                     quiet=args.quiet)


def _cmd_compare(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: grokjax compare dmft [--help] [flags]")
        return 0
    if argv[0] != "dmft":
        return _fail(f"invalid value for 'comparison': unknown comparison {argv[0]!r} (known: dmft)")
    from experiments.dmft_compare import main as compare_main

    return compare_main(argv[1:])


def build_parser() -> argparse.ArgumentParser:
    from experiments import SIZES

    parser = argparse.ArgumentParser(prog="grokjax", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="train a task and save a labelled dataset", add_help=False)
    sub.add_parser("compare", help="theory against simulation", add_help=False)
    fig = sub.add_parser("figure", help="regenerate a paper figure and check its claim")
    fig.add_argument("name")
    fig.add_argument("--size", choices=SIZES, default="small")
    fig.add_argument("--out", type=Path, default=None, help="default: figures/ (small), figures/<size>/ (others)")
    fig.add_argument("--quiet", action="store_true")
    rep = sub.add_parser("reproduce", help="run every figure and write figures/CLAIMS.md")
    rep.add_argument("--size", choices=SIZES, default="small")
    rep.add_argument("--out", type=Path, default=None, help="default: figures/ (small), figures/<size>/ (others)")
    rep.add_argument("--only", nargs="+", default=None, help="only these figures")
    rep.add_argument("--quiet", action="store_true")
    sub.add_parser("list", help="list tasks and figures")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "run":
        return _cmd_run(argv[1:])
    if argv and argv[0] == "compare":
        return _cmd_compare(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if args.command == "figure":
            return _cmd_figure(args)
        if args.command == "reproduce":
            return _cmd_reproduce(args)
        return _cmd_list(args)
    except ConfigError as exc:
        return _fail(str(exc))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
