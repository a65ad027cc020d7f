"""Run layouts shared by several test files, so that their runs compile to one program (the session's compilation
cache, tests/conftest.py, serves the second file): one declaration instead of copies that can drift apart."""

#: the checkpoint tests' sweep layout (tests/test_checkpoints.py, test_sweep_lock.py, test_sweep_scale.py,
#: test_dataset_schema.py, test_metadata.py; in chunks of 2 configurations: one compiled program for all of them)
CHECKPOINT_LAYOUT = dict(D=8, N=16, P=24, P_test=40, steps=200, n_log=8)


def layout_flags(layout: dict) -> list[str]:
    """A layout as ``grokjax run poly`` flags (``P_test`` -> ``--P-test 40``): a CLI run of the same program."""
    return [a for k, v in layout.items() for a in (f"--{k.replace('_', '-')}", str(v))]
