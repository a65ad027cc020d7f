"""grokjax, dmft, experiments and benchmarks use only JAX APIs covered by JAX's compatibility policy, so that the
newer JAX of the GPU image (0.11) runs them: no ``jax.core``, ``jax.interpreters``, ``jax.lib``, ``jax._src``,
``jax.linear_util`` or ``jax.api_util`` (outside that policy, several deprecated in 0.10 in favour of
``jax.extend``), and none of the names deprecated or removed by 0.10/0.11 (``jax.tree_map`` and friends,
``jax.xla_computation``, ``use_mesh``, ``jax.lax.zeros_like_array``, ``jnp.fix``, host_callback).
Deprecation warnings raised from our own modules are errors in the whole suite (``filterwarnings`` in
pyproject.toml); this test catches the uses that warn only on newer JAX versions."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = re.compile(
    r"\bjax\.(core|interpreters|lib|_src|linear_util|api_util)\b"
    r"|from jax(\.\w+)* import .*\b(core|interpreters|_src)\b"
    r"|\bjax\.(tree_map|tree_leaves|tree_flatten|tree_unflatten|tree_structure|tree_reduce|xla_computation|"
    r"clear_backends|device_put_replicated|device_put_sharded)\b"
    r"|\b(use_mesh|zeros_like_array|host_callback)\b|\bjnp\.fix\b")


def test_no_jax_api_outside_the_compatibility_policy():
    offenders = []
    for folder in ("grokjax", "dmft", "experiments", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#", 1)[0]
                if FORBIDDEN.search(code):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_the_pattern_catches_what_it_should():
    for bad in ("isinstance(x, jax.core.Tracer)", "from jax import core", "jax.tree_map(f, t)",
                "from jax._src import api", "jax.lib.xla_bridge.get_backend()"):
        assert FORBIDDEN.search(bad), bad
    for good in ("jax.tree.map(f, t)", "jax.tree_util.tree_map(f, t)", "jax.errors.JAXTypeError",
                 "from jax.experimental import multihost_utils"):
        assert not FORBIDDEN.search(good), good
