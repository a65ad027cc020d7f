import jax
import pytest

from grokjax import run_single as run_one  # noqa: F401  (shared by the test modules)


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield
