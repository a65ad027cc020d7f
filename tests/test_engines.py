"""Every optimizer x engine x centring x readouts combination the CLI accepts equals the weights-engine
reference (float64, 1e3 steps, <= 1e-10), or is refused with exit code 2 naming the field."""
import itertools

import numpy as np
import pytest

import grokjax as gj
from grokjax import cli
from conftest import run_one

OPTIMIZERS = ("gd", "momentum", "nesterov", "adam", "adamw", "rmsprop")
BASE = dict(D=6, N=10, P=20, P_test=40, steps=1000, n_log=6, eps=0.5, eta0=0.05, n_align=20, dtype="float64",
            kernel_regression=False)
COMPARED = ("train_loss", "test_loss", "pop_test_loss", "lazy_train_loss", "lazy_test_loss", "movement", "m2",
            "q", "weight_norm", "alignment")
CASES = list(itertools.product(OPTIMIZERS, ("weights", "reduced", "auto"), (True, False), ("fixed", "trained")))


def _flags(optimizer, engine, centered, readouts):
    extra = {"momentum": 0.7} if optimizer in ("momentum", "nesterov") else {}
    return dict(BASE, optimizer=optimizer, engine=engine, centered=centered, readouts=readouts, **extra)


def _argv(fields):
    argv = ["run", "poly"]
    for key, value in fields.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            argv.append(flag if value else "--no-" + key.replace("_", "-"))
        else:
            argv += [flag, str(value)]
    return argv


_RUNS = {}


def _run(cfg):
    """Cached run of ``cfg`` with its engine resolved (an ``auto`` case is the same run as its engine's)."""
    cfg = cfg.replace(engine=gj.choose_engine(cfg))
    if cfg not in _RUNS:
        _RUNS[cfg] = run_one(cfg)
    return _RUNS[cfg]


# the comparisons that compute (reduced engine, or auto resolving to it): 6 (optimizer, centring) pairs, each two
# compiled programs. The default suite keeps centred Nesterov (the look-ahead only this file checks); the other 5
# run with -m slow: tests/test_poly_dynamics.py compares the two engines by default for centred gd and uncentred
# heavy-ball momentum (a 10^4-step run), so every optimizer and both centrings keep a default comparison.
_DEFAULT = {("nesterov", True)}


def _param(case):
    optimizer, engine, centered, readouts = case
    slow = engine != "weights" and (optimizer, centered) not in _DEFAULT
    return pytest.param(*case, marks=pytest.mark.slow) if slow else pytest.param(*case)


@pytest.mark.parametrize(("optimizer", "engine", "centered", "readouts"), [_param(c) for c in CASES])
def test_combination_equals_weights_engine_or_is_refused(optimizer, engine, centered, readouts, tmp_path, capsys):
    fields = _flags(optimizer, engine, centered, readouts)
    try:
        cfg = gj.PolyConfig(**fields)
    except gj.ConfigError as exc:  # refused: the CLI says so with exit code 2, names the field, writes nothing
        out = tmp_path / "out.nc"
        assert cli.main(_argv(fields) + ["--out", str(out)]) == 2
        assert f"'{exc.field}'" in capsys.readouterr().err
        assert not out.exists()
        assert engine == "reduced" and (readouts == "trained" or optimizer not in ("gd", "momentum", "nesterov"))
        return
    if gj.choose_engine(cfg) == "weights":
        return  # the weights engine is the reference itself
    ref, got = _run(cfg.replace(engine="weights")), _run(cfg)
    for name in COMPARED:
        rel = np.max(np.abs(ref[name] - got[name])) / np.max(np.abs(ref[name]))
        assert rel <= 1e-10, (name, rel, gj.choose_engine(cfg))
    assert ref["train_loss"][-1] < 0.5 * ref["train_loss"][0]  # it trains


def test_nesterov_differs_from_heavy_ball_on_the_reduced_engine():
    """The reduced engine reads the Nesterov look-ahead (it once ran plain GD for 'nesterov'). Plain GD is
    Nesterov with momentum 0: momentum is a traced field, so both runs are one compiled program (the default
    comparison's)."""
    cfg = gj.PolyConfig(**_flags("nesterov", "reduced", True, "fixed"))
    runs = {"nesterov": _run(cfg), "gd": _run(cfg.replace(momentum=0.0))}
    assert abs(runs["gd"]["train_loss"][-1] - runs["nesterov"]["train_loss"][-1]) > 1e-3 * runs["gd"]["train_loss"][-1]


def test_every_engine_declares_its_support():
    from grokjax._engines import ENGINES

    cfg = gj.PolyConfig(optimizer="adam")
    assert ENGINES["weights"].supports(cfg) is None
    assert ENGINES["reduced"].supports(cfg)[0] == "optimizer"
    assert gj.choose_engine(cfg) == "weights"
