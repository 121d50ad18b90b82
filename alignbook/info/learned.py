"""PID estimators that learn, from the labels, what of each modality to keep before decomposing.

Why. `estimate.py` discretises each modality by its variance (PCA, then k-means). On the synthetic data most
of the variance is label-irrelevant, so most of the task information is lost before the decomposition
starts. The estimators here first learn each modality's posterior over the classes, then decompose.

Why posteriors are enough for R, U1 and U2. BROJA's minimum `min_Q I_Q(X1,X2;Y)` depends on `p` only through
`p(x1, y)` and `p(x2, y)`. Replace X1 by `T1 = p(y | X1)`, a sufficient statistic (`Y - T1 - X1` is a
Markov chain). A feasible Q for (X1, X2, Y) marginalises to a feasible Q' for (T1, X2, Y) with
`I_Q'(T1,X2;Y) <= I_Q(X1,X2;Y)` (data processing). Conversely `Q'(t1, x2, y) p(x1 | t1)` is feasible for
(X1, X2, Y) (because `p(x1 | t1, y) = p(x1 | t1)`) and has the same value. So the minimum, hence R, U1 and
U2, is unchanged, and likewise for X2. The synergy needs `I(X1,X2;Y)` besides, which the pair of
posteriors does not determine: a third classifier sees both modalities.

Cross-fitting. The rows are split into `n_folds` class-stratified folds. For each fold, three small
classifiers (x1 alone, x2 alone, both) are trained on the other folds and predict the held-out fold, so no
probability is ever computed for a row its classifier was trained on. Everything after that (codes,
counts, the optimisation) uses the held-out fold only; each fold gives one estimate with its own refitted
classifiers and codes, and the estimate is their mean. The interval is a Student-t interval over the
folds: it includes the spread that refitting the classifiers and codes causes, not only resampling
noise, but it does not include their shared bias (information the classifiers fail to learn lowers
I(X;Y) in every fold alike).

Two estimators share the classifiers (`method`):

- `"codes"`: a discretisation learned for the task. Each modality's posteriors are quantised by k-means on
  their square roots (in the Hellinger geometry, the one in which nearby posteriors carry nearby
  information; k-means on log-probabilities follows differences between tiny probabilities that carry
  none), into `n_codes` codes; the joint classifier's posteriors into `n_joint_codes` codes. The plug-in
  joint of the held-out codes and labels is decomposed (`minimum_information`, checked against the exact
  solver): R, U1, U2 from it, I12 as the plug-in `I(Z12; Y)` and S = I12 - min I_Q. `bias_correction`
  removes the plug-in terms' upward bias: `"miller-madow"` subtracts (cells - 1) / 2n style terms (see
  `miller_madow_bias`), `"split"` the half-sample jackknife `2 theta(n) - mean(theta(n/2))`.
- `"batch"`: the BATCH estimator of Liang et al. (NeurIPS 2023) in spirit. Within minibatches of
  `batch_atoms` held-out rows, each row is one atom: `p(a, y) = p(y | x1_a) / m`, `p(b, y) = p(y | x2_b) / m`
  from the classifiers (no counting, no quantisation). A joint `q(a, b, y)` is kept on those two marginals
  by Sinkhorn scaling and minimises `I_q(X1,X2;Y)` by alternating minimisation ("replace q by q(a, b),
  scale back onto the marginals", which converges to the batch's minimum); Liang et al. instead amortise q
  with a network trained by gradient steps. I1, I2, I12 are the posteriors' own mutual informations.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from alignbook.checks import check_int_range, check_positive_int, check_same_rows, check_seed, fail, to_numpy
from alignbook.info.exact import log_base

LEARNED_METHODS = ("codes", "batch")
BIAS_CORRECTIONS = ("none", "miller-madow", "split")
KEYS = ("redundancy", "unique1", "unique2", "synergy", "mi_x1_y", "mi_x2_y", "mi_x1x2_y")
MIN_ROWS_PER_CODE = 5  # a held-out fold needs this many rows per code, or plug-in counts are mostly empty
PROBABILITY_FLOOR = 1e-6  # posteriors are clipped here: a log of 0 would make one row decide an estimate
SOLVER_ITERATIONS = 300  # of `minimum_information`: within ~1e-3 nats of the exact minimum on code joints
SINKHORN_STEPS = 3  # scaling steps per iteration


@dataclass(frozen=True)
class ClassifierSettings:
    """How the per-fold classifiers are trained: an MLP (`hidden` units, two ReLU layers) plus a linear
    path from input to logits, trained by Adam with a one-cycle learning rate on class cross-entropy.

    Training takes `min(max_steps, ceil(epochs * rows / batch_size))` steps (`steps`), so the cost stops
    growing with the sample size once `max_steps` is reached.
    """

    hidden: int = 32
    epochs: int = 40
    max_steps: int = 1000
    batch_size: int = 256
    lr: float = 1e-2
    weight_decay: float = 1e-3

    def __post_init__(self):
        check_int_range("hidden", self.hidden, 1, 4096)
        check_int_range("epochs", self.epochs, 1, 100_000)
        check_int_range("max_steps", self.max_steps, 1, 10**7)
        check_int_range("batch_size", self.batch_size, 1, 10**6)
        for name in ("lr", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 10:
                fail(name, f"must be a number in [0, 10), got {value!r}")
        if self.lr == 0:
            fail("lr", "must be > 0")

    def steps(self, rows: int) -> int:
        """Training steps for `rows` training rows; at least 2, which the one-cycle schedule needs."""
        return max(2, int(min(self.max_steps, math.ceil(self.epochs * rows / self.batch_size))))


# ----------------------------------------------------------------------------------------------------------
# input checks


def as_feature_matrix(param: str, x) -> np.ndarray:
    """Rows of `x` as a float64 matrix (one row per sample), refusing non-finite or all-constant input."""
    array = to_numpy(param, x)
    if array.ndim == 0:
        fail(param, "must have one row per sample, got a scalar")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        fail(param, f"must be a real numeric array, got dtype {array.dtype}")
    array = array.reshape(len(array), -1).astype(np.float64)
    if not np.all(np.isfinite(array)):
        fail(param, "contains NaN or infinite values", "clean or impute them first")
    if len(array) > 1 and np.all(np.ptp(array, axis=0) == 0):
        fail(param, "has only constant features: it cannot carry information about the label")
    return array


def class_codes(y) -> tuple[np.ndarray, np.ndarray]:
    """(classes, codes 0..C-1) of the label array `y`, which must be 1-D and hold at least two classes."""
    labels = to_numpy("y", y)
    if labels.ndim != 1:
        fail("y", f"must be a 1-D array of class labels, got shape {labels.shape}")
    if labels.dtype.kind == "f":
        missing = int(np.count_nonzero(np.isnan(labels)))
    else:  # an object array: None, or a float NaN among other labels
        missing = sum(v is None or (isinstance(v, float) and math.isnan(v))
                      for v in labels.tolist()) if labels.dtype.kind == "O" else 0
    if missing:
        fail("y", f"holds {missing} missing labels (NaN or None); a missing label is not a class",
             "drop those rows first")
    try:
        classes, codes = np.unique(labels, return_inverse=True)
    except TypeError:  # an object array of values that cannot be ordered, such as 0 and "a"
        types = sorted({type(v).__name__ for v in labels.tolist()})
        fail("y", f"mixes labels of types {', '.join(types)}, which cannot be ordered",
             "give every label one type, e.g. y.astype(str)")
    if len(classes) < 2:
        fail("y", f"holds a single class ({classes[:1].tolist()}); there is no information to decompose")
    if len(classes) > 256:
        fail("y", f"has {len(classes)} distinct values; the PID estimators need class labels",
             "bin a regression target")
    return classes, codes.reshape(-1)


def stratified_folds(codes: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold index (0..n_folds-1) of each row: scikit-learn's shuffled `StratifiedKFold` from `seed`, so every
    fold holds each class in about the same share."""
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(codes)
    if counts.min() < n_folds:
        fail("y", f"class {int(counts.argmin())} has {int(counts.min())} rows, fewer than n_folds={n_folds}",
             "lower n_folds or gather more samples")
    folds = np.empty(len(codes), dtype=np.int64)
    splitter = StratifiedKFold(n_folds, shuffle=True, random_state=int(seed % 2**32))
    for f, (_, held_out) in enumerate(splitter.split(np.zeros(len(codes)), codes)):
        folds[held_out] = f
    return folds


# ----------------------------------------------------------------------------------------------------------
# cross-fitted class posteriors


def zscore(x: np.ndarray) -> np.ndarray:
    """The columns of `x` (n, d) z-scored (a constant column is centred only).

    Each column is first multiplied by the power of two that brings its largest magnitude into [0.5, 1),
    which is exact in floating point: the statistics of data near 1e200 then do not overflow, nor those
    of data near 1e-300 underflow (either turned every feature into zeros), and ordinary data give the
    very same bits as without it.
    """
    _, exponent = np.frexp(np.abs(x).max(axis=0))
    x = np.ldexp(x, -exponent)
    std = x.std(0)
    return (x - x.mean(0)) / np.where(std > 0, std, 1.0)


def crossfit_posteriors(x1, x2, codes: np.ndarray, folds: np.ndarray, settings: ClassifierSettings,
                        seed: int, progress: bool = False) -> np.ndarray:
    """Held-out class posteriors of three classifiers per fold: from x1, from x2 and from both.

    Returns `p[view, row, class]` (views x1, x2, both), each row predicted by the classifiers of its own
    fold, which never saw it. All 3 x n_folds classifiers are trained at once as one batched network (one
    matrix product per layer for all of them); each sees its modalities' z-scored features and zeros in
    place of the others. Every random draw (initial weights, mini-batches) comes from `seed`.
    """
    import torch

    x = np.concatenate([zscore(x1), zscore(x2)], axis=1)
    d1, n_folds, n_classes = x1.shape[1], int(folds.max()) + 1, int(codes.max()) + 1
    views = np.zeros((3, x.shape[1]), dtype=np.float32)
    views[0, :d1] = views[1, d1:] = views[2] = 1.0
    masks = np.stack([folds != f for _ in range(3) for f in range(n_folds)])  # (models, rows) training rows
    inputs = torch.from_numpy(x.astype(np.float32))
    view_of = torch.from_numpy(np.repeat(views, n_folds, axis=0))  # (models, features)
    labels = torch.from_numpy(codes.astype(np.int64))
    generator = torch.Generator().manual_seed(int(seed % 2**63))
    network = _BatchedClassifier(len(masks), x.shape[1], settings.hidden, n_classes, generator)
    optimiser = torch.optim.Adam(network.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    steps = settings.steps(int(masks.sum(1).min()))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=settings.lr, total_steps=steps)
    counts = torch.from_numpy(masks.sum(1))
    order = torch.from_numpy(np.argsort(~masks, axis=1, kind="stable"))  # each model's training rows first
    iterator = range(steps)
    if progress:
        from tqdm import tqdm  # only when asked

        iterator = tqdm(iterator, desc=f"{len(masks)} classifiers", unit="step")
    for _ in iterator:
        draws = (torch.rand(len(masks), settings.batch_size, generator=generator) * counts[:, None]).long()
        rows = order.gather(1, draws)
        logits = network(inputs[rows] * view_of[:, None, :])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, n_classes), labels[rows].reshape(-1))
        optimiser.zero_grad()
        (loss * len(masks)).backward()  # each model's mean loss, summed: models do not share a step size
        optimiser.step()
        schedule.step()
    with torch.no_grad():
        posteriors = np.empty((3, len(codes), n_classes))
        for f in range(n_folds):
            held_out = torch.from_numpy(np.flatnonzero(folds == f))
            chosen = [v * n_folds + f for v in range(3)]
            logits = network(inputs[held_out][None] * view_of[chosen][:, None, :], chosen)
            posteriors[:, held_out.numpy()] = torch.softmax(logits.double(), -1).numpy()
    return np.clip(posteriors, PROBABILITY_FLOOR, 1.0)


class _BatchedClassifier:
    """`models` independent MLPs with a linear skip path, evaluated together by batched matrix products."""

    def __init__(self, models: int, inputs: int, hidden: int, classes: int, generator):
        import torch

        def layer(fan_in, fan_out):  # torch.nn.Linear's default initialisation, drawn from `generator`
            bound = 1 / math.sqrt(fan_in)
            weight = (torch.rand(models, fan_in, fan_out, generator=generator) * 2 - 1) * bound
            bias = (torch.rand(models, 1, fan_out, generator=generator) * 2 - 1) * bound
            return [weight.requires_grad_(), bias.requires_grad_()]

        self.layers = [layer(inputs, hidden), layer(hidden, hidden), layer(hidden, classes)]
        self.skip = layer(inputs, classes)

    def parameters(self):
        return [p for pair in [*self.layers, self.skip] for p in pair]

    def __call__(self, x, models=None):
        import torch

        def pick(pair):
            return pair if models is None else [p[models] for p in pair]

        h = x
        for k, pair in enumerate(self.layers):
            weight, bias = pick(pair)
            h = torch.baddbmm(bias, h, weight)
            if k < len(self.layers) - 1:
                h = torch.relu(h)
        weight, bias = pick(self.skip)
        return h + torch.baddbmm(bias, x, weight)


# ----------------------------------------------------------------------------------------------------------
# "codes": quantised posteriors, exact decomposition of the plug-in joint


def posterior_codes(posteriors: np.ndarray, n_codes: int, seed: int) -> np.ndarray:
    """k-means codes (0..n_codes-1) of posterior vectors, clustered by their square roots (Hellinger)."""
    from sklearn.cluster import KMeans

    points = np.sqrt(posteriors)
    distinct = np.unique(points, axis=0)
    if len(distinct) <= n_codes:  # fewer distinct posteriors than codes: each is its own code
        return np.unique(points, axis=0, return_inverse=True)[1].reshape(-1)
    model = KMeans(n_codes, n_init=1, random_state=int(seed % 2**32))
    return model.fit_predict(points)


def miller_madow_bias(counts: np.ndarray, n: float | None = None) -> float:
    """Miller-Madow estimate of the upward bias of plug-in I(X;Y) from a table `counts[x, y]` of n samples
    (default: its total), counting the occupied (non-zero) cells.

    Each plug-in entropy of m occupied cells from n samples is low by about (m - 1) / 2n; I = H(X) + H(Y) -
    H(X,Y), so its bias is (cells(X,Y) - cells(X) - cells(Y) + 1) / 2n.
    """
    n = counts.sum() if n is None else n
    occupied = (counts > 0).sum() - (counts.sum(1) > 0).sum() - (counts.sum(0) > 0).sum() + 1
    return float(occupied / (2 * n))


def _mutual_information(joint: np.ndarray) -> float:
    positive = joint > 0
    product = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
    return float((joint[positive] * np.log(joint[positive] / product[positive])).sum())


def _codes_decomposition(z1, z2, z12, labels, shape, rows_sets, correction: str) -> np.ndarray:
    """KEYS of each row set's plug-in decomposition (one row of the returned array per row set)."""
    k1, k2, k12, n_classes = shape
    table = []
    for rows in rows_sets:
        counts = np.zeros((k1, k2, n_classes))
        np.add.at(counts, (z1[rows], z2[rows], labels[rows]), 1.0)
        counts12 = np.zeros((k12, n_classes))
        np.add.at(counts12, (z12[rows], labels[rows]), 1.0)
        n = len(rows)
        a, b = counts.sum(1) / n, counts.sum(0) / n
        value, q = minimum_information(a, b, SOLVER_ITERATIONS, SINKHORN_STEPS)
        i1, i2, i12 = _mutual_information(a), _mutual_information(b), _mutual_information(counts12 / n)
        if correction == "miller-madow":
            bias1, bias2 = miller_madow_bias(counts.sum(1)), miller_madow_bias(counts.sum(0))
            # min I_Q is a plug-in information over the support of the minimiser q*; its Miller-Madow term
            # is kept between the two extremes: q* a copy (bias of one marginal) or a product (of both)
            support = (q * n >= 0.5).reshape(-1, n_classes) * 1.0
            bias = min(max(miller_madow_bias(support, n), bias1, bias2), bias1 + bias2)
            i1, i2, i12, value = i1 - bias1, i2 - bias2, i12 - miller_madow_bias(counts12), value - bias
        unique1, unique2 = value - i2, value - i1  # keeps R + U1 = I1, R + U2 = I2, sum = I12 exact
        table.append([i1 - unique1, unique1, unique2, i12 - value, i1, i2, i12])
    return np.array(table)


def codes_fold_estimate(posteriors: np.ndarray, labels: np.ndarray, rows: np.ndarray, n_codes: int,
                        n_joint_codes: int, correction: str, seed: int) -> np.ndarray:
    """KEYS of the "codes" estimate on one fold's held-out `rows` (posteriors of that fold's classifiers)."""
    z1 = posterior_codes(posteriors[0, rows], n_codes, seed)
    z2 = posterior_codes(posteriors[1, rows], n_codes, seed + 1)
    z12 = posterior_codes(posteriors[2, rows], n_joint_codes, seed + 2)
    y = labels[rows]
    shape = (n_codes, n_codes, n_joint_codes, int(labels.max()) + 1)
    everything = np.arange(len(rows))
    if correction != "split":
        return _codes_decomposition(z1, z2, z12, y, shape, [everything], correction)[0]
    # half-sample jackknife: plug-in bias ~ c / n, so 2 theta(n) - theta(n / 2) removes it to first order
    halves = np.random.default_rng([seed, 404]).permutation(len(rows)) % 2
    row_sets = [everything, np.flatnonzero(halves == 0), np.flatnonzero(halves == 1)]
    table = _codes_decomposition(z1, z2, z12, y, shape, row_sets, "none")
    return 2 * table[0] - table[1:].mean(0)


# ----------------------------------------------------------------------------------------------------------
# "batch": rows as atoms, the minimum found by alternating Sinkhorn scaling


def minimum_information(a: np.ndarray, b: np.ndarray, iterations: int = SOLVER_ITERATIONS,
                        sinkhorn_steps: int = SINKHORN_STEPS) -> tuple[float, np.ndarray]:
    """(min I_q(X1,X2;Y), the minimiser q[x1, x2, y]) over the joints q with q(x1, y) = a and q(x2, y) = b.

    `a[x1, y]`, `b[x2, y]` are probability tables with the same class marginal. q is kept in the factored
    form `q(x1, x2, y) = s(x1, x2) u(x1, y) v(x2, y)`, started at the coupling p(y) p(x1 | y) p(x2 | y).
    Each iteration replaces q by q(x1, x2) (s absorbs u v: one matrix product), then scales it back onto
    the two marginals by `sinkhorn_steps` Sinkhorn steps (matrix-vector products per class): the
    alternating minimisation that `alignbook.info.exact` describes, which converges to the minimum (like
    1 / iterations where the minimiser has zeros). It costs O(|X1| |X2| |Y|) per step and never forms an
    exponential, so it handles the hundreds of atoms of a "batch" minibatch, where the exact interior-point
    solver's normal equations would be too large, and it is a few times faster than that solver on code
    joints. Its error is checked against the exact solver in the tests; the estimators' own errors are
    far larger.
    """
    p_y = a.sum(0)
    safe_py = np.where(p_y > 0, p_y, 1.0)
    s, u, v = np.ones((len(a), len(b))), a / safe_py, b.astype(np.float64)
    for _ in range(iterations):
        s = s * (u @ v.T)
        for _ in range(sinkhorn_steps):
            u = np.divide(a, s @ v, out=np.zeros_like(a), where=a > 0)
            v = np.divide(b, s.T @ u, out=np.zeros_like(b), where=b > 0)
    q = s[:, :, None] * u[:, None, :] * v[None, :, :]
    q_pairs = q.sum(-1, keepdims=True)
    positive = q > 0
    ratio = q / np.where(q_pairs > 0, q_pairs, 1.0) / safe_py
    return float((q[positive] * np.log(ratio[positive])).sum()), q


def batch_minimum(p1: np.ndarray, p2: np.ndarray, iterations: int = SOLVER_ITERATIONS,
                  sinkhorn_steps: int = SINKHORN_STEPS) -> tuple[float, float, float, np.ndarray]:
    """(min I_q(A,B;Y), I(A;Y), I(B;Y), p_y) over the atoms of one minibatch, in nats.

    `p1[a, y]`, `p2[b, y]` are the posteriors of the m rows of the batch. Atom a has mass 1/m and label
    distribution p1[a]; both are rescaled per class to the batch's mean class distribution `p_y` so that
    the two marginals agree on it (`minimum_information` needs that).
    """
    m = len(p1)
    p_y = 0.5 * (p1.mean(0) + p2.mean(0))
    a = p1 / m * (p_y / p1.mean(0))[None, :]  # each class column now sums to p_y, in both marginals
    b = p2 / m * (p_y / p2.mean(0))[None, :]
    value, _ = minimum_information(a, b, iterations, sinkhorn_steps)
    return value, _mutual_information(a), _mutual_information(b), p_y


def batch_fold_estimate(posteriors: np.ndarray, rows: np.ndarray, batch_atoms: int, max_batches: int,
                        seed: int) -> np.ndarray:
    """KEYS of the "batch" estimate on one fold's held-out rows: the mean over at most `max_batches`
    minibatches of `batch_atoms` rows (drawn from `seed`) of each batch's decomposition."""
    order = np.random.default_rng([seed, 505]).permutation(rows)
    n_batches = min(max_batches, len(order) // batch_atoms)
    table = []
    for k in range(n_batches):
        chosen = order[k * batch_atoms : (k + 1) * batch_atoms]
        value, i1, i2, _ = batch_minimum(posteriors[0, chosen], posteriors[1, chosen])
        p12 = posteriors[2, chosen] / len(chosen)
        i12 = _mutual_information(p12 / p12.sum())
        table.append([i1 + i2 - value, value - i2, value - i1, i12 - value, i1, i2, i12])
    return np.mean(table, axis=0)


# ----------------------------------------------------------------------------------------------------------
# the estimate


@dataclass(frozen=True)
class Variant:
    """One learned estimator: `method` ("codes" or "batch") and, for "codes", its `bias_correction`."""

    method: str = "codes"
    bias_correction: str = "none"

    def __post_init__(self):
        if self.method not in LEARNED_METHODS:
            fail("method", f"must be one of {LEARNED_METHODS}, got {self.method!r}")
        if self.bias_correction not in BIAS_CORRECTIONS:
            fail("bias_correction", f"must be one of {BIAS_CORRECTIONS}, got {self.bias_correction!r}")
        if self.method == "batch" and self.bias_correction != "none":
            fail("bias_correction", "applies to the plug-in counts of method 'codes'; 'batch' counts nothing",
                 "use bias_correction='none' with method='batch'")

    @property
    def name(self) -> str:
        return self.method if self.method == "batch" else f"{self.method}/{self.bias_correction}"


@dataclass
class LearnedEstimate:
    """A learned estimator's decomposition: `point[k]` the mean over folds of quantity k (KEYS), `interval[k]`
    its Student-t interval over the folds, `folds` the per-fold estimates (rows, columns in KEYS order),
    `settings` how it was made (with `solver_gap` NaN: `minimum_information` has no certificate, and
    `cpu_seconds`, the processor time of the classifiers, shared by the variants of one call, plus the
    variant's own; processor time, unlike wall time, does not grow when other programs share the cores)."""

    point: dict
    interval: dict
    settings: dict
    folds: np.ndarray


def learned_pids(x1, x2, y, variants=(Variant(),), n_folds: int = 5, n_codes: int = 32,
                 n_joint_codes: int = 64, batch_atoms: int = 128, max_batches: int = 4,
                 classifier: ClassifierSettings | None = None, seed: int = 0, ci: float = 0.95, base="e",
                 progress: bool = False) -> dict[str, LearnedEstimate]:
    """The PID of paired samples by each learned estimator in `variants`, which share one set of
    cross-fitted classifiers; keyed by `Variant.name` ("codes/none", "codes/miller-madow", "batch", ...).

    See the module docstring for the estimators. `n_folds` class-stratified folds (from `seed`) each refit
    the classifiers (`classifier`, default `ClassifierSettings()`) and the codes; each estimate is the
    mean over folds with the Student-t interval at level `ci` over them. "codes" quantises into `n_codes`
    codes per modality and `n_joint_codes` for the pair; "batch" decomposes at most `max_batches`
    minibatches of `batch_atoms` rows per fold.
    """
    if isinstance(variants, Variant) or not variants or not all(isinstance(v, Variant) for v in variants):
        fail("variants", f"must be a non-empty sequence of Variant, got {variants!r}")
    a, b = as_feature_matrix("x1", x1), as_feature_matrix("x2", x2)
    classes, labels = class_codes(y)
    check_same_rows(x1=a, x2=b, y=labels)
    n_folds = check_int_range("n_folds", n_folds, 2, 100)
    n_codes = check_int_range("n_codes", n_codes, 2, 4096)
    n_joint_codes = check_int_range("n_joint_codes", n_joint_codes, 2, 4096)
    batch_atoms = check_int_range("batch_atoms", batch_atoms, 2, 4096)
    max_batches = check_positive_int("max_batches", max_batches)
    classifier = ClassifierSettings() if classifier is None else classifier
    if not isinstance(classifier, ClassifierSettings):
        fail("classifier", f"must be a ClassifierSettings, got {type(classifier).__name__}")
    seed = check_seed("seed", seed)
    if isinstance(ci, bool) or not isinstance(ci, (int, float)) or not 0 < ci < 1:
        fail("ci", f"must be a number in (0, 1), got {ci!r}")
    scale = log_base(base)
    folds = stratified_folds(labels, n_folds, seed)
    smallest = int(np.bincount(folds).min())
    methods = {v.method for v in variants}
    needed = MIN_ROWS_PER_CODE * max(n_codes, n_joint_codes)
    if "codes" in methods and smallest < needed:
        fail("n_codes", f"{n_codes} codes per modality and {n_joint_codes} joint codes need {needed} rows "
             f"per fold ({MIN_ROWS_PER_CODE} per code), but the smallest of {n_folds} folds has {smallest}",
             "use fewer codes or folds, or more samples")
    if "batch" in methods and smallest < batch_atoms:
        fail("batch_atoms", f"is {batch_atoms}, but the smallest of {n_folds} folds has {smallest} rows",
             "use smaller batches or fewer folds, or more samples")

    started = time.process_time()
    posteriors = crossfit_posteriors(a, b, labels, folds, classifier, seed, progress)
    classifier_seconds = time.process_time() - started
    from scipy.stats import t as student_t

    factor = student_t.ppf(0.5 + ci / 2, n_folds - 1) / math.sqrt(n_folds)
    common = {"n_folds": n_folds, "seed": seed, "ci": ci, "base": base, "n_samples": len(labels),
              "n_classes": len(classes), **{f"classifier_{k}": v for k, v in asdict(classifier).items()}}
    estimates = {}
    for variant in variants:
        started = time.process_time()
        table = []
        for f in range(n_folds):
            rows = np.flatnonzero(folds == f)
            if variant.method == "codes":
                table.append(codes_fold_estimate(posteriors, labels, rows, n_codes, n_joint_codes,
                                                 variant.bias_correction, seed + 3 * f))
            else:
                table.append(batch_fold_estimate(posteriors, rows, batch_atoms, max_batches, seed + f))
        table = np.array(table) / scale
        mean, half = table.mean(0), factor * table.std(0, ddof=1)
        settings = {"method": variant.method, "bias_correction": variant.bias_correction, **common,
                    "solver_gap": math.nan, "cpu_seconds_classifiers": classifier_seconds,
                    "cpu_seconds": classifier_seconds + time.process_time() - started}
        settings.update({"n_codes": n_codes, "n_joint_codes": n_joint_codes} if variant.method == "codes"
                        else {"batch_atoms": batch_atoms, "max_batches": max_batches})
        estimates[variant.name] = LearnedEstimate(
            point=dict(zip(KEYS, mean.tolist(), strict=True)),
            interval={k: (float(m - h), float(m + h)) for k, m, h in zip(KEYS, mean, half, strict=True)},
            settings=settings, folds=table)
    return estimates
