"""Every bad input is refused before any compute: exit code 2 (CLI) or ConfigError (Python API), the field
named in the message, nothing created. Plus: --help without importing jax, and every flag has a help string."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import grokjax as gj
from grokjax import cli

TINY = ["--D", "4", "--N", "4", "--P", "8", "--P-test", "8", "--steps", "10", "--n-log", "4"]


def _tiny(args):
    """TINY's flags that ``args`` does not set, then ``args`` (an option given twice is refused on its own)."""
    given = {a for a in args if a.startswith("--")}
    return [t for flag, value in zip(TINY[::2], TINY[1::2]) if flag not in given for t in (flag, value)] + list(args)

# (argv after "run poly" or a full argv, field named in the message)
RUN_CASES = [
    (["--alpha", "inf"], "alpha"), (["--alpha", "nan"], "alpha"), (["--alpha", "-1"], "alpha"),
    (["--alpha", "0"], "alpha"), (["--alpha", "1", "1"], "alpha"), (["--eps", "inf"], "eps"),
    (["--eps", "-0.1"], "eps"), (["--eps", "nan"], "eps"), (["--eta0", "inf"], "eta0"), (["--eta0", "0"], "eta0"),
    (["--eta0", "-2"], "eta0"), (["--init-scale", "0"], "init_scale"), (["--init-scale", "inf"], "init_scale"),
    (["--momentum", "1.0", "--optimizer", "momentum"], "momentum"),
    (["--momentum", "-0.1", "--optimizer", "momentum"], "momentum"),
    (["--momentum", "0.5"], "momentum"), (["--weight-decay", "0.1"], "weight_decay"),
    (["--weight-decay", "-1", "--optimizer", "adamw"], "weight_decay"),
    (["--weight-decay", "inf", "--optimizer", "adamw"], "weight_decay"),
    (["--D", "0"], "D"), (["--D", "-3"], "D"), (["--N", "0"], "N"), (["--P", "0"], "P"), (["--P-test", "0"], "P_test"),
    (["--steps", "0"], "steps"), (["--n-log", "0"], "n_log"), (["--n-log", "20", "--steps", "10"], "n_log"),
    (["--steps", "1000000000", "--n-log", "1000000000"], "n_log"), (["--ridge", "-1"], "ridge"),
    (["--ridge", "inf"], "ridge"), (["--n-align", "-1"], "n_align"), (["--divergence-bound", "0"], "divergence_bound"),
    (["--divergence-bound", "inf"], "divergence_bound"), (["--log-schedule", "cubic"], "log_schedule"),
    (["--convention", "C"], "convention"), (["--target", "cubic"], "target"), (["--readouts", "free"], "readouts"),
    (["--optimizer", "nosuchopt"], "optimizer"), (["--cka", "other"], "cka"), (["--engine", "gpu"], "engine"),
    (["--dtype", "float16"], "dtype"), (["--engine", "reduced", "--optimizer", "adam"], "optimizer"),
    (["--engine", "reduced", "--optimizer", "adamw"], "optimizer"),
    (["--engine", "reduced", "--readouts", "trained"], "readouts"), (["--seeds", "-1"], "seeds"),
    (["--seeds", "4294967296"], "seeds"), (["--seeds", "99999999999999999999"], "seeds"), (["--seeds", "0", "0"], "seeds"),
    (["--mode", "cartesian"], "mode"), (["--mode", "zip", "--alpha", "1", "2", "--eps", "0.1", "0.2", "0.3"], "sweep"),
    (["--threshold", "0"], "threshold"), (["--threshold", "nan"], "threshold"), (["--threshold", "inf"], "threshold"),
    (["--chunk-size", "-1"], "chunk_size"), (["--memory-limit-gb", "-1"], "memory_limit_gb"),
    (["--memory-limit-gb", "nan"], "memory_limit_gb"), (["--memory-limit-gb", "1e-9"], "memory_limit"),
    (["--eps", "0.1", "0.1"], "eps"),
]
ARGPARSE_CASES = [["--D", "true"], ["--D", "1.5"], ["--D", "abc"], ["--alpha", "one"], ["--seeds", "1.7"],
                  ["--nosuchflag", "1"], ["--alpha"], ["--seeds"], ["--steps", ""]]
CONFIG_FILE_CASES = [({"D": True}, "D"), ({"steps": "100"}, "steps"), ({"alpha": []}, "alpha"),
                     ({"alpha": [1, 1]}, "alpha"), ({"alpha": "1"}, "alpha"), ({"centered": 1}, "centered"),
                     ({"nosuch": 1}, "nosuch"), ({"seeds": [1.7]}, "seeds"), ({"seeds": []}, "seeds"),
                     ({"seeds": [True]}, "seeds"), ({"eps": None}, "eps"), ({"D": 10.5}, "D"),
                     ({"convention": 1}, "convention"), ({"alpha": [1e400]}, "alpha")]


def _snapshot(path):
    return sorted(os.path.relpath(os.path.join(d, f), path) for d, _, fs in os.walk(path) for f in fs + ["."])


def _run_cli(argv, tmp_path, capsys):
    before = _snapshot(tmp_path)
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, (argv, code, err)
    assert _snapshot(tmp_path) == before, argv
    return err


@pytest.mark.parametrize(("args", "field"), RUN_CASES)
def test_run_poly_refuses(args, field, tmp_path, capsys):
    err = _run_cli(["run", "poly", *_tiny(args), "--out", str(tmp_path / "o" / "x.nc")], tmp_path, capsys)
    assert f"'{field}'" in err and "given twice" not in err, err


@pytest.mark.parametrize("args", ARGPARSE_CASES)
def test_run_poly_refuses_unparsable(args, tmp_path, capsys):
    err = _run_cli(["run", "poly", *_tiny(args), "--out", str(tmp_path / "x.nc")], tmp_path, capsys)
    assert "--" + args[0].lstrip("-") in err, err


@pytest.mark.parametrize(("content", "field"), CONFIG_FILE_CASES)
def test_config_file_refused(content, field, tmp_path, capsys):
    cfg = tmp_path / "c.json"
    tiny = {"D": 4, "N": 4, "P": 8, "P_test": 8, "steps": 10, "n_log": 4}
    cfg.write_text(json.dumps({**tiny, **content}))  # 1e400 is written as Infinity, which JSON reads back as inf
    err = _run_cli(["run", "poly", "--config", str(cfg), "--out", str(tmp_path / "x.nc")], tmp_path, capsys)
    assert f"'{field}'" in err, err


def test_output_paths_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    (tmp_path / "exists.nc").write_text("x")
    (tmp_path / "dir.nc").mkdir()
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    cases = [(["--out", str(tmp_path / "exists.nc")], "out"), (["--out", str(tmp_path / "dir.nc")], "out"),
             (["--out", str(tmp_path / "file" / "x.nc")], "out"),
             (["--checkpoint-dir", str(tmp_path / "file"), "--out", str(tmp_path / "a.nc")], "checkpoint_dir"),
             (["--checkpoint-dir", str(tmp_path / "file" / "sub"), "--out", str(tmp_path / "b.nc")], "checkpoint_dir"),
             (["--config", str(tmp_path / "missing.json"), "--out", str(tmp_path / "c.nc")], "config"),
             (["--config", str(tmp_path / "file"), "--out", str(tmp_path / "d.nc")], "config")]
    if os.geteuid() != 0:  # root writes anywhere
        cases.append((["--out", str(ro / "x.nc")], "out"))
    for args, field in cases:
        err = _run_cli(["run", "poly", *_tiny(args)], tmp_path, capsys)
        assert f"'{field}'" in err, (args, err)
    ro.chmod(0o700)


@pytest.mark.parametrize(("argv", "field"), [
    (["run", "nosuchtask"], "task"), (["figure", "nosuchfig"], "figure"), (["reproduce", "--only", "nosuchfig"], "only"),
    (["reproduce", "--only", "fig1", "fig1"], "only"), (["compare", "nosuch"], "comparison"),
    (["figure", "fig1", "--from", "missing.nc"], "from"), (["figure", "app12", "--seeds", "0", "1"], "seeds"),
    (["figure", "fig4", "--seeds", "0"], "seeds"), (["figure", "fig1", "--seeds", "0", "0"], "seeds"),
    (["figure", "fig1", "--seeds", "-1"], "seeds"), (["figure", "fig2", "--seeds", "4294967296"], "seeds"),
    (["figure", "nosuchfig", "--seeds", "0"], "figure"),
    (["figure", "fig1", "--formats", "gif"], "formats"), (["figure", "fig1", "--formats", "png", "png"], "formats"),
    (["figure", "fig1", "--formats", "PNG"], "formats"),
    # an option given twice is refused on every command, not replaced by the last occurrence
    (["figure", "fig1", "--formats", "png", "--formats", "svg"], "formats"),
    (["figure", "fig1", "--quiet", "--no-quiet"], "quiet"), (["reproduce", "--only", "fig1", "--only", "fig2"], "only"),
    (["run", "poly", "--seeds", "0", "--seeds", "1"], "seeds"), (["run", "modular", "--p", "11", "--p", "13"], "p"),
    (["run", "poly", "--out", "a.nc", "--out", "b.nc"], "out"), (["compare", "dmft", "--D", "100", "--D", "200"], "D")])
def test_commands_refuse(argv, field, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = _run_cli(argv, tmp_path, capsys)
    assert f"'{field}'" in err, err


@pytest.mark.parametrize("argv", [["figure", "fig1", "--size", "huge"], ["reproduce", "--size", "x"], ["nosuchcmd"],
                                  ["figure", "fig1", "--seeds", "1.5"], ["figure", "fig1", "--seeds"]])
def test_argparse_commands_refuse(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _run_cli(argv, tmp_path, capsys)


API_CASES = [
    (dict(alpha=-1), "alpha"), (dict(alpha=0), "alpha"), (dict(alpha="1"), "alpha"), (dict(alpha=math.inf), "alpha"),
    (dict(alpha=math.nan), "alpha"), (dict(alpha=True), "alpha"), (dict(alpha=None), "alpha"), (dict(D="abc"), "D"),
    (dict(D=True), "D"), (dict(D=10.0), "D"), (dict(D=0), "D"), (dict(N=-1), "N"), (dict(steps=0), "steps"),
    (dict(n_log=10**6, steps=10**7), "n_log"), (dict(eps=math.inf), "eps"), (dict(eta0=math.nan), "eta0"),
    (dict(centered=1), "centered"), (dict(centered="yes"), "centered"), (dict(convention="a"), "convention"),
    (dict(seed=-1), "seed"), (dict(seed=2**40), "seed"), (dict(seed=1.5), "seed"), (dict(dtype="f64"), "dtype"),
    (dict(optimizer="nesterov", momentum=1.5), "momentum"), (dict(engine="reduced", optimizer="rmsprop"), "optimizer"),
    (dict(divergence_bound=math.inf), "divergence_bound"),
]


@pytest.mark.parametrize(("kwargs", "field"), API_CASES)
def test_polyconfig_validates_at_construction(kwargs, field):
    with pytest.raises(gj.ConfigError) as info:
        gj.PolyConfig(**kwargs)
    assert info.value.field == field and f"'{field}'" in str(info.value)


SMALL = dict(D=4, N=4, P=8, P_test=8, steps=10, n_log=4)


@pytest.mark.parametrize(("kwargs", "field"), [
    (dict(sweep={"alpha": 2}), "alpha"), (dict(sweep={"alpha": []}), "alpha"), (dict(sweep={"alpha": [1, 1]}), "alpha"),
    (dict(sweep={"D": [4, 8]}), "D"), (dict(sweep={"alpha": [-1]}), "alpha"), (dict(sweep={"alpha": ["x"]}), "alpha"),
    (dict(sweep=[1, 2]), "sweep"), (dict(seeds=[1.7]), "seeds"), (dict(seeds=[]), "seeds"), (dict(seeds=[0, 0]), "seeds"),
    (dict(seeds=[-1]), "seeds"), (dict(seeds=5), "seeds"), (dict(chunk_size=-1), "chunk_size"),
    (dict(chunk_size=0), "chunk_size"), (dict(memory_limit=-5), "memory_limit"), (dict(mode="grid"), "mode"),
    (dict(memory_limit=1), "memory_limit"),
])
def test_run_sweep_refuses(kwargs, field, tmp_path):
    with pytest.raises(gj.ConfigError) as info:
        gj.run_sweep(gj.PolyConfig(**SMALL), checkpoint_dir=tmp_path / "ck", **kwargs)
    assert info.value.field == field, info.value
    assert not (tmp_path / "ck").exists()


@pytest.mark.parametrize("threshold", [math.nan, math.inf, -1.0, "0.1"])
def test_grokking_metrics_refuses_bad_threshold(threshold):
    with pytest.raises(gj.ConfigError, match="threshold"):
        gj.grokking_metrics([0, 1], [1.0, 0.0], [1.0, 0.0], threshold)


def test_help_does_not_import_jax():
    code = ("import sys, contextlib, io\nfrom grokjax import cli\nfor argv in (['--help'], ['run', 'poly', '--help']):\n"
            "    with contextlib.redirect_stdout(io.StringIO()):\n        try:\n            cli.main(argv)\n"
            "        except SystemExit:\n            pass\nprint('jax' in sys.modules, 'xarray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"], out


def _parsers():
    import argparse

    from grokjax._dataclass_cli import add_config_arguments
    from grokjax.tasks import TASKS, load_task

    top = cli.build_parser()
    yield "grokjax", top
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()
    for name in TASKS:
        parser = argparse.ArgumentParser()
        add_config_arguments(parser, load_task(name).Config)
        yield f"run {name}", parser


def test_every_flag_has_a_help_string():
    import argparse

    for name, parser in _parsers():
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)
            assert ":class:" not in action.help


def test_run_poly_help_lists_choices_and_defaults(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "poly", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "one of gd, momentum, nesterov" in text and "(default: 100)" in text and ":class:" not in text


def test_figure_from_refuses_unreadable_mismatched_or_sized(tmp_path, capsys, monkeypatch):
    """``--from`` a file that is no dataset, the dataset of another figure, or ``--size`` beside ``--from``:
    exit 2 naming the field, and nothing written."""
    import numpy as np
    import xarray as xr

    from grokjax.store import save_dataset

    monkeypatch.chdir(tmp_path)
    junk = tmp_path / "junk.nc"
    junk.write_text("not a dataset")
    other = save_dataset(xr.Dataset({"test_loss": ("step", np.zeros(3))}), tmp_path / "data" / "fig3a.nc",
                         figure="fig3a")
    out = tmp_path / "out"
    for argv, field in ((["figure", "fig1", "--from", str(junk)], "from"),
                        (["figure", "fig1", "--from", str(other)], "from"),
                        (["figure", "fig3a", "--from", str(other), "--size", "paper"], "size"),
                        (["figure", "fig3a", "--from", str(other), "--seeds", "0", "1"], "seeds")):
        err = _run_cli([*argv, "--out", str(out)], tmp_path, capsys)
        assert f"'{field}'" in err, (argv, err)
        assert not out.exists()


# Issue 24 review: bad inputs the issue does not name, one or more per class (empty paths, a field named by the
# flag that set it, duplicates and ranges of the declared command options, shapes in analysis functions, ...)
CMP = ["compare", "dmft", "--T", "5", "--S", "1000", "--D", "20"]
REVIEW_CASES = [
    (CMP + ["--out", ""], "out"), (CMP + ["--plot", " "], "plot"), (["figure", "fig1", "--out", ""], "out"),
    (["figure", "fig1", "--from", ""], "from"), (["reproduce", "--out", ""], "out"),
    (["compare", "dmft", "--T", "1000000000"], "T"),  # was named 'n_log', a field compare dmft does not have
    (CMP + ["--dt", "1e308"], "dt"),  # was named 'eta0'
    (CMP + ["--a", "0.01"], "D"),  # P = round(a D) = 0 training points
    (CMP[:-2] + ["--D", "20", "20"], "D"), (CMP[:-2] + ["--D", "1000001"], "D"), (CMP + ["--seeds", "0"], "seeds"),
    (CMP + ["--seeds", "0", "2147483648"], "seeds"), (CMP + ["--seed-batch", "0"], "seed_batch"),
    (CMP + ["--dmft-seeds", "1", "1"], "dmft_seeds"), (CMP + ["--theory", "exact"], "theory"),
    (CMP + ["--sim", "other"], "sim"), (CMP + ["--m0", "1", "2"], "m0"), (CMP + ["--eta", "-1"], "eta"),
    (["figure", "fig1", "--size", "huge"], "size"), (["reproduce", "--size", "x"], "size"),
    (["reproduce", "--only", ""], "only"), (["figure", "fig1", "--seeds", "1", "1"], "seeds"),
]


@pytest.mark.parametrize(("argv", "field"), REVIEW_CASES)
def test_review_cases_refused(argv, field, tmp_path, capsys, monkeypatch):
    import experiments.dmft_compare as dc
    import grokjax._reproduce as rp
    import grokjax.figures as figures

    def computed(*args, **kwargs):
        raise AssertionError("compute started")

    for obj, attr in ((dc, "compare"), (figures, "make_figure"), (rp, "reproduce")):
        monkeypatch.setattr(obj, attr, computed)
    monkeypatch.chdir(tmp_path)
    err = _run_cli(argv, tmp_path, capsys)
    assert f"'{field}'" in err and "Traceback" not in err and "given twice" not in err, err


@pytest.mark.parametrize(("call", "field"), [
    (lambda: gj.grokking_metrics([0, 1], [1.0, 0.0], [1.0], 0.5), "test"),
    (lambda: gj.grokking_metrics([0, 1, 2], [1.0, 0.0], [1.0, 0.5, 0.1], 0.5), "train"),
    (lambda: gj.grokking_metrics([], [], [], 0.5), "steps"),
    (lambda: gj.PolyConfig(D=np.float64(4.0)), "D"), (lambda: gj.PolyConfig(alpha=complex(1, 0)), "alpha"),
    (lambda: gj.LazyRichConfig(seed=(0, 0)), "seed"),
])
def test_review_api_cases_refused(call, field):
    with pytest.raises(gj.ConfigError) as info:
        call()
    assert info.value.field == field, info.value
