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


def run_tiny_figure(name: str, out, capsys):
    """``grokjax figure NAME --size tiny --out OUT --quiet`` in this process; returns (its stdout, the dataset path),
    after checking that it says it wrote that dataset and did."""
    from grokjax.cli import main

    assert main(["figure", name, "--size", "tiny", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    data = out / "data" / f"{name}.nc"
    assert f"wrote {data}" in printed and data.exists()
    return printed, data


def assert_from_rejudges_without_computing(name: str, module, data, out, first: str, capsys, monkeypatch) -> None:
    """``grokjax figure NAME --from DATA --out OUT`` prints the verdict line(s) of ``first`` (the output of the run
    that wrote DATA) and re-plots ``OUT/NAME.png``, with ``module.run`` made to fail (it must compute nothing)."""
    import pytest

    from grokjax.cli import main

    (out / f"{name}.png").unlink()
    monkeypatch.setattr(module, "run", lambda *a, **k: pytest.fail("--from must not compute"))
    assert main(["figure", name, "--from", str(data), "--out", str(out)]) == 0
    second = capsys.readouterr().out
    verdict = [line for line in first.splitlines() if line.startswith(f"[{name}]")]
    assert verdict and verdict == [line for line in second.splitlines() if line.startswith(f"[{name}]")]
    assert (out / f"{name}.png").stat().st_size > 1000
