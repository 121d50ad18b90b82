"""How much task information paired views carry and share, measured with linear probes: a cheap proxy of
the decomposition for real data, where no exact joint exists.

- `linear_probe` is the package's one linear probe (scikit-learn): features z-scored with the fitting rows'
  statistics, then a logistic regression (class posteriors) or a ridge regression of ±1 targets (many
  binary targets in one solve, `analysis.probe_accuracy`);
- `probe_information`: a multinomial logistic probe per view and on both views together gives a test
  cross-entropy; the gap to the class prior's cross-entropy is a lower bound on the mutual information
  `I(X; Y)` (nats);
- `mmi_decomposition`: the minimum-mutual-information redundancy `R = min(I1, I2)` (Barrett 2015) splits it:
  `U_k = I_k - R`, `S = max(0, I12 - max(I1, I2))`; an encoder's *shared fraction* `R / I_k` is the share of
  its own task information that the other view also carries (1 for the weaker view of a pair by
  construction);
- `information_table`, `encoder_information`: those numbers for several datasets, per dataset and per
  encoder.

Datasets are read by their parts (`train` and `test` splits with `x1`, `x2`, `y`, a `task`, `name` and
`modality_names`, as `alignbook.data.PairedDataset` has them): this subpackage sits below `data`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from alignbook.checks import check_fraction, check_positive, fail

if TYPE_CHECKING:
    import pandas as pd

    from alignbook.data import PairedDataset

PROBE_MODELS = ("logistic", "ridge")


def linear_probe(x: np.ndarray, y: np.ndarray, model: str = "logistic", strength: float = 1.0):
    """A linear probe fitted on the rows `x` (n, d) and targets `y`: a scikit-learn pipeline of a
    `StandardScaler` (the fitting rows' statistics) and a linear model, with `predict` (and, for
    "logistic", `predict_proba`) on new rows.

    `model` "logistic": a multinomial `LogisticRegression` (inverse L2 strength `C = strength`) of class
    labels `y` (n,). "ridge": a `Ridge` regression (penalty `alpha = strength`) of ±1 targets `y` (n, k),
    one column per binary target, all solved at once (so hundreds of representations are probed in
    seconds); the sign of a prediction is the probe's class, as `sklearn.linear_model.RidgeClassifier`
    decides for one label.
    """
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model not in PROBE_MODELS:
        fail("model", f"must be one of {PROBE_MODELS}, got {model!r}")
    strength = check_positive("strength", strength)
    if model == "logistic":
        estimator = LogisticRegression(C=strength, max_iter=2000)
    else:
        estimator = Ridge(alpha=strength)
    return make_pipeline(StandardScaler(), estimator).fit(x, y)


def probe_features(x: np.ndarray) -> np.ndarray:
    """Features a linear probe sees: tabular input as is; (n, t, d) input summarised by the mean and the
    standard deviation over its second axis (time steps, or image rows), giving (n, 2 d)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        return x
    flat = x.reshape(len(x), x.shape[1], -1)
    return np.concatenate([flat.mean(axis=1), flat.std(axis=1)], axis=1)


def _probe_target(task: str, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class codes and the rows they are defined on: the classes, or the sign of a regression target (rows
    with y = 0 left out)."""
    if task == "classification":
        return np.asarray(y, dtype=np.int64), np.ones(len(y), dtype=bool)
    keep = np.asarray(y) != 0
    return (np.asarray(y) > 0).astype(np.int64), keep


def _cross_entropy(proba: np.ndarray, codes: np.ndarray, classes: np.ndarray) -> float:
    """Mean negative log probability (nats) of `codes` under `proba` (rows, columns in `classes` order); a
    class without a column has probability 0, clipped at 1e-12."""
    column = np.searchsorted(classes, codes)
    known = (column < len(classes)) & (classes[np.minimum(column, len(classes) - 1)] == codes)
    p = np.where(known, proba[np.arange(len(codes)), np.minimum(column, len(classes) - 1)], 0.0)
    return float(-np.mean(np.log(np.clip(p, 1e-12, None))))


def _check_dataset(dataset) -> None:
    if not all(hasattr(dataset, part) for part in ("train", "test", "task", "name", "modality_names")):
        fail("dataset", f"must be a PairedDataset, got {type(dataset).__name__}")


def probe_information(dataset: PairedDataset, C: float = 1.0, max_train: int = 20000, seed: int = 0) -> dict:
    """Linear-probe accuracies and information lower bounds of x1, x2 and both, on the test split.

    Each probe is `linear_probe(..., "logistic", C)` fitted on the train split (at most `max_train` rows,
    drawn from `seed`) of `probe_features`. `I = CE(prior) - CE(probe)` on the test split, clipped at 0
    (nats), with the prior the train class frequencies. Regression targets are probed through their sign
    (rows with y = 0 left out). Returns acc1, acc2, acc12, I1, I2, I12, R, U1, U2, S
    (`mmi_decomposition`) and the shared fractions `shared = R / max(I12, I1, I2)` (probe estimates can
    give I12 < max(I1, I2)), `shared1 = R / I1`, `shared2 = R / I2` (NaN where the divisor is 0).
    """
    _check_dataset(dataset)
    train, test = dataset.train, dataset.test
    y_train, keep_train = _probe_target(dataset.task, train.y)
    y_test, keep_test = _probe_target(dataset.task, test.y)
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
        probe = linear_probe(x_train, y_train[rows], "logistic", C)
        out[f"acc{name}"] = float(np.mean(probe.predict(x_test) == y_test[keep_test]))
        ce = _cross_entropy(probe.predict_proba(x_test), y_test[keep_test], probe.classes_)
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


def information_table(datasets: Mapping[str, PairedDataset], **probe_options) -> pd.DataFrame:
    """`probe_information` of each dataset (name -> dataset), one row per dataset, indexed by name, with
    the two modality names as columns `modality1`, `modality2`."""
    import pandas as pd

    if not isinstance(datasets, Mapping) or not datasets:
        fail("datasets", "must be a non-empty dict name -> PairedDataset")
    rows = []
    for name, dataset in datasets.items():
        _check_dataset(dataset)
        modality1, modality2 = dataset.modality_names
        rows.append({"dataset": name, "modality1": modality1, "modality2": modality2,
                     **probe_information(dataset, **probe_options)})
    return pd.DataFrame(rows).set_index("dataset")


def encoder_information(info: pd.DataFrame, threshold: float = 0.9) -> pd.DataFrame:
    """One row per dataset and encoder of an `information_table`: modality, probe accuracy, information
    `I`, shared fraction `R / I_k`, `information` ("mostly shared" when the shared fraction is at least
    `threshold`, else "much unique") and `role` ("weaker" when its view carries no more probe information
    than the other view, else "stronger")."""
    import pandas as pd

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
