"""Test helper: run a ``grokjax`` command in this process (no process start, no fresh compile per call)."""
from __future__ import annotations

import contextlib
import io


def in_process(argv: list[str]) -> tuple[int, str]:
    """(exit code, stderr) of ``grokjax ARGV`` run in this process: the ``main()`` that ``python -m grokjax``
    exits with; argparse's exit counts as its code."""
    from grokjax.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code
    return rc, err.getvalue()
