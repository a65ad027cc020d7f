"""Outputs never collide and never shrink: coinciding output paths are refused before compute, and
``reproduce --only`` merges its rows into an existing claims table (or refuses without --overwrite)."""
import json
import os
from types import SimpleNamespace

import pytest

import grokjax as gj
import grokjax._reproduce as rp
from grokjax.cli import main

SMALL_DMFT = ["compare", "dmft", "--T", "4", "--N", "2", "--S", "10", "--D", "20", "--seeds", "0", "1"]


@pytest.mark.parametrize("plot", ["r.nc", "./r.nc", "sub/../r.nc", "{tmp}/r.nc", "link.nc"])
def test_compare_dmft_out_and_plot_on_one_file_is_refused(tmp_path, monkeypatch, capsys, plot):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    os.symlink(tmp_path / "r.nc", tmp_path / "link.nc")  # dangling: points at the dataset to be written
    rc = main([*SMALL_DMFT, "--out", "r.nc", "--plot", plot.format(tmp=tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and "'plot'" in err and "same file" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.nc", "sub"]  # nothing written


@pytest.mark.parametrize("out, ckpt", [("x", "x"), ("x", "x/sub"), ("x", "./x/../x")])
def test_run_out_colliding_with_checkpoint_dir_is_refused(tmp_path, monkeypatch, capsys, out, ckpt):
    monkeypatch.chdir(tmp_path)
    rc = main(["run", "poly", "--D", "4", "--N", "4", "--P", "4", "--P-test", "4", "--steps", "10", "--n-log", "2",
               "--out", out, "--checkpoint-dir", ckpt, "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "checkpoint_dir" in err, err
    assert list(tmp_path.iterdir()) == []


class _Check(SimpleNamespace):
    def report(self):
        return f"{self.claim}: holds={self.holds}"


@pytest.fixture
def fake_figures(monkeypatch):
    """Three figures that compute nothing; records which ran."""
    ran = []

    def maker(name, size, out_dir, quiet=False):
        ran.append(name)
        return _Check(claim=f"claim of {name}", numbers={"x": 1.0}, holds=True)

    monkeypatch.setattr(rp, "discover", lambda: ({n: maker for n in ("figA", "figB", "figC")}, []))
    return ran


def _rows(folder):
    return {r["figure"]: r for r in json.loads((folder / "CLAIMS.json").read_text())["rows"]}


def test_reproduce_only_merges_into_existing_table(tmp_path, fake_figures, monkeypatch):
    from datetime import datetime as real_datetime

    from grokjax.store import git_provenance

    assert rp.reproduce(size="tiny", out_dir=tmp_path, quiet=True) == 0
    assert set(_rows(tmp_path)) == {"figA", "figB", "figC"}
    before = _rows(tmp_path)
    git = git_provenance()
    commit = git["git_commit"] + ("+dirty" if git["git_dirty"] == "true" else "")
    assert {r["commit"] for r in before.values()} == {commit} and len({r["run"] for r in before.values()}) == 1
    assert "comes from one `grokjax reproduce` run" in (tmp_path / "CLAIMS.md").read_text()
    fake_figures.clear()

    class _Later(real_datetime):  # a second, later run: the table must say that its rows are merged
        @classmethod
        def now(cls, tz=None):
            return real_datetime(2999, 1, 1, tzinfo=tz)

    monkeypatch.setattr("datetime.datetime", _Later)
    rp.reproduce(size="tiny", out_dir=tmp_path, only=["figB"], quiet=True)
    assert "Rows merged from 2 runs: 2 rows from the run started" in (tmp_path / "CLAIMS.md").read_text()
    assert "1 rows from the run started 2999-01-01T00:00:00Z" in (tmp_path / "CLAIMS.md").read_text()
    after = _rows(tmp_path)
    assert fake_figures == ["figB"] and set(after) == {"figA", "figB", "figC"}
    assert after["figA"] == before["figA"] and after["figC"] == before["figC"]
    table = (tmp_path / "CLAIMS.md").read_text()
    assert all(f"| {n} |" in table for n in ("figA", "figB", "figC"))


@pytest.mark.parametrize("state", ["other size", "corrupt json", "empty json", "md without json", "rows missing"])
def test_reproduce_refuses_a_table_it_cannot_merge_unless_overwrite(tmp_path, fake_figures, state):
    md, js = tmp_path / "CLAIMS.md", tmp_path / "CLAIMS.json"
    md.write_text("| old table |\n")
    if state == "other size":
        js.write_text(json.dumps({"size": "paper", "rows": [
            {"figure": "figA", "claim": "c", "measured": "m", "verdict": "holds", "wall_s": 1.0}]}))
    elif state == "corrupt json":
        js.write_text('{"size": "tiny", "rows": [')
    elif state == "empty json":
        js.write_text("")
    elif state == "rows missing":
        js.write_text('{"size": "tiny"}')
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(gj.ConfigError) as err:
        rp.reproduce(size="tiny", out_dir=tmp_path, only=["figA"], quiet=True)
    assert err.value.field == "out" and "--overwrite" in str(err.value)
    assert fake_figures == [] and {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    rp.reproduce(size="tiny", out_dir=tmp_path, only=["figA"], quiet=True, overwrite=True)
    assert set(_rows(tmp_path)) == {"figA"} and fake_figures == ["figA"]


def test_cli_reproduce_refuses_before_compute(tmp_path, capsys):
    (tmp_path / "CLAIMS.json").write_text(json.dumps({"size": "paper", "rows": []}))
    (tmp_path / "CLAIMS.md").write_text("x")
    rc = main(["reproduce", "--size", "tiny", "--only", "fig1", "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "'out'" in err and "size 'paper'" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CLAIMS.json", "CLAIMS.md"]
