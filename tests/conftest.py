import os

import jax
import pytest

# Every dataset written during the tests (in-process and by CLI subprocesses) must describe all its variables.
os.environ.setdefault("GROKJAX_STRICT_METADATA", "1")

from grokjax import run_single as run_one  # noqa: F401  (shared by the test modules)


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield
