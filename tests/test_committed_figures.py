"""The committed figure datasets (``figures/data/*.nc``, written by ``grokjax reproduce``) have the current dataset
layout (:func:`grokjax.store.check_dataset_schema`): regenerate them when the layout changes."""
from pathlib import Path

import pytest

from grokjax.store import METADATA_SCHEMA, check_dataset_schema

DATA = Path(__file__).resolve().parents[1] / "figures" / "data"


def test_committed_figure_datasets_have_the_current_schema():
    files = sorted(DATA.glob("*.nc"))
    if not files:
        pytest.skip("no committed figure datasets in this checkout")
    stale = {path.name: problems for path in files if (problems := check_dataset_schema(path))}
    assert not stale, (f"{len(stale)} of {len(files)} figure datasets lack metadata_schema {METADATA_SCHEMA} "
                       "(regenerate them with `grokjax reproduce`):\n" +
                       "\n".join(f"  {name}: {'; '.join(problems[:3])}" for name, problems in stale.items()))
