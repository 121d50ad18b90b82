"""The synthetic paired data of the paper's controlled study, with its exact information quantities.

Sixteen iid uniform latent bits: eight shared (`xc`), four seen only by modality 1 (`xu1`), four only by
modality 2 (`xu2`); `x1 = [xc, xu1]`, `x2 = [xc, xu2]`. The label depends on eight of them: `r` shared bits
and `u1 = (8 - r) // 2`, `u2 = 8 - r - u1` unique ones, through `q(y | v) = softmax(v W / 0.05)` balanced over
the four classes. Modality 2 then passes through a frozen random map of depth `d` (heterogeneity).

Because the 256 values of the relevant bits `v` are equiprobable, the joint distribution is known in closed
form (`exact_joint`) and mutual informations, Bayes accuracies and the PID are exact (`exact_info`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from alignbook.checks import (
    MIN_SYNTHETIC_SAMPLES,
    check_depth,
    check_int_range,
    check_redundancy,
    check_sample_size,
    check_seed,
    fail,
)
from alignbook.data.container import (
    PairedDataset,
    PairedSplit,
    check_split,
    split_indices,
    split_sizes,
    standardize,
)
from alignbook.data.labelled import check_n_train, labelled_seed, labelled_subset
from alignbook.info import exact

if TYPE_CHECKING:
    import torch

NUM_SHARED = 8  # bits in xc
NUM_UNIQUE = 4  # bits in xu1 and in xu2
NUM_RELEVANT = 8  # bits the label depends on
NUM_CLASSES = 4
TEMPERATURE = 0.05
BALANCE_TOLERANCE = 0.01  # stop balancing once every class probability is within this of 1/4
MAX_BALANCE_ROUNDS = 100
POSITION_SEED = 1  # the generator's legacy np.random.seed(1) for bit positions
WEIGHT_SEED = 2  # and np.random.seed(2) for W
MIN_SAMPLES = MIN_SYNTHETIC_SAMPLES  # the bound of `checks.check_sample_size`
PID_TOLERANCE = 1e-5  # certified error bound (nats) of the exact PID; the 128 x 128 joints reach ~1e-6


@dataclass(frozen=True, eq=False)
class LabelModel:
    """How the label is made for one redundancy level.

    `red` are positions in `xc`, `uni1` in `xu1`, `uni2` in `xu2` of the label-relevant bits;
    `v = [xc[red], xu1[uni1], xu2[uni2]]` indexes `q` as the binary number with `v[0]` as its most
    significant bit; `q[v, y] = q(y | v)` is the balanced table (256 x 4), reached after `balance_rounds`
    rescalings at class probabilities `p_y`.
    """

    redundancy: int
    u1: int
    u2: int
    red: np.ndarray
    uni1: np.ndarray
    uni2: np.ndarray
    W: np.ndarray
    q: np.ndarray
    balance_rounds: int
    p_y: np.ndarray


def unique_counts(redundancy: int) -> tuple[int, int]:
    """(u1, u2): how many unique bits of each modality the label uses at this redundancy."""
    r = check_redundancy("redundancy", redundancy)
    u1 = (NUM_RELEVANT - r) // 2
    return u1, NUM_RELEVANT - r - u1


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)  # cached and shared between callers: nobody may edit it in place
    return array


@functools.lru_cache(maxsize=1)
def _balanced_table() -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """W, the balanced q(y | v) over the 256 values of v, the rounds it took and the final p(y)."""
    weights = np.random.RandomState(WEIGHT_SEED).uniform(0, 1, size=(NUM_RELEVANT, NUM_CLASSES))
    weights /= np.linalg.norm(weights, axis=1, keepdims=True)
    logits = _all_bit_patterns(NUM_RELEVANT) @ weights / TEMPERATURE
    q = np.exp(logits - logits.max(1, keepdims=True))
    q /= q.sum(1, keepdims=True)
    rounds = 0
    for _ in range(MAX_BALANCE_ROUNDS):
        p_y = q.mean(0)  # the 256 values of v are equiprobable
        if np.all(np.abs(p_y - 1 / NUM_CLASSES) <= BALANCE_TOLERANCE):
            break
        q = q * (1 / NUM_CLASSES) / p_y
        q /= q.sum(1, keepdims=True)
        rounds += 1
    return _frozen(weights), _frozen(q), rounds, _frozen(q.mean(0))


def _all_bit_patterns(num_bits: int) -> np.ndarray:
    """Row i holds the binary digits of i, most significant first."""
    return ((np.arange(2**num_bits)[:, None] >> np.arange(num_bits)[::-1]) & 1).astype(np.float64)


@functools.cache
def label_model(redundancy: int) -> LabelModel:
    """Bit positions, W and the balanced q(y | v) of one redundancy level (deterministic, cached)."""
    u1, u2 = unique_counts(redundancy)
    rng = np.random.RandomState(POSITION_SEED)  # same draws as the legacy global np.random.seed(1)
    red = rng.choice(NUM_SHARED, int(redundancy), replace=False)
    uni1 = rng.choice(NUM_UNIQUE, u1, replace=False)
    uni2 = rng.choice(NUM_UNIQUE, u2, replace=False)
    weights, q, rounds, p_y = _balanced_table()
    return LabelModel(int(redundancy), u1, u2, _frozen(red), _frozen(uni1), _frozen(uni2), weights, q, rounds,
                      p_y)


@functools.cache
def _exact_joint(redundancy: int) -> np.ndarray:
    model = label_model(redundancy)
    r, u1, u2 = model.redundancy, model.u1, model.u2
    shared = 2**r
    p_v = (model.q / 2**NUM_RELEVANT).reshape(shared, 2**u1, 2**u2, NUM_CLASSES)  # p[s, a, b, y]
    joint = np.zeros((shared, 2**u1, shared, 2**u2, NUM_CLASSES))
    index = np.arange(shared)
    joint[index, :, index, :, :] = p_v  # both modalities see the same shared bits s
    return _frozen(joint.reshape(shared * 2**u1, shared * 2**u2, NUM_CLASSES))


def exact_joint(redundancy: int) -> np.ndarray:
    """Exact p[x1', x2', y] over the label-relevant bits of each modality.

    `x1' = (s, a)`: the r relevant shared bits then the u1 relevant unique bits of modality 1, read as a
    binary number (most significant first); `x2' = (s, b)` likewise with modality 2's u2 bits.

    Why this smaller joint is enough. The remaining bits are `C` (irrelevant shared bits, a copy in each
    modality) and `N1`, `N2` (irrelevant unique bits); they are independent of `(X1', X2', Y)`. Hence
    `I(X1;Y) = I(X1';Y) + I(C,N1;Y | X1') = I(X1';Y)`, the same for X2 and for the pair, and Bayes accuracies
    agree because `p(y | x1) = p(y | x1')`. For the PID, the minimum of `I_Q(X1,X2;Y)` over the full
    constraint set equals the minimum over the reduced one: any reduced optimum `Q'` extends to
    `Q' x p(C) x p(N1) p(N2)` (feasible, same value), and any full feasible `Q` marginalises to a reduced
    feasible `Q''` with `I_Q''(X1',X2';Y) <= I_Q(X1,X2;Y)` (data processing: `(X1',X2')` is a function of
    `(X1,X2)`). So R, U1, U2 and S are unchanged too.

    The frozen map of modality 2 and the z-scoring are injective on the 2^12 binary points (a generic
    square linear map and tanh are), so none of these quantities depends on the depth or on
    standardisation either. Returned read-only (it is cached).
    """
    return _exact_joint(check_redundancy("redundancy", redundancy))


@functools.cache
def _exact_info(redundancy: int) -> tuple[tuple[str, float], ...]:
    joint = _exact_joint(redundancy)
    p1, p2 = joint.sum(1), joint.sum(0)
    p12 = joint.reshape(-1, NUM_CLASSES)
    values = {
        "mi_x1_y": exact.mutual_information(p1), "mi_x2_y": exact.mutual_information(p2),
        "mi_x1x2_y": exact.mutual_information(p12), "bayes_acc": exact.bayes_accuracy(p12),
        "bayes_acc_x1": exact.bayes_accuracy(p1), "bayes_acc_x2": exact.bayes_accuracy(p2),
    }
    return tuple(values.items())


@functools.cache
def _exact_pid(redundancy: int) -> tuple[tuple[str, float], ...]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # small dense solves: BLAS threads only add contention (measured)
        decomposition = exact.pid(_exact_joint(redundancy), tol=PID_TOLERANCE)
    values = {f"pid_{name}": decomposition[name] for name in ("redundancy", "unique1", "unique2", "synergy")}
    values["pid_gap"] = decomposition["solver_gap"]
    return tuple(values.items())


def exact_info(redundancy: int, pid: bool = True) -> dict:
    """Exact information quantities (nats) of the synthetic data at one redundancy level.

    Keys: `mi_x1_y`, `mi_x2_y`, `mi_x1x2_y`; `bayes_acc`, `bayes_acc_x1`, `bayes_acc_x2`; `u1`, `u2` (counts
    of label-relevant unique bits, not PID uniqueness); with `pid` the BROJA PID `pid_redundancy`,
    `pid_unique1`, `pid_unique2`, `pid_synergy` and `pid_gap` (the solver's certified error bound), which
    take seconds per level (cached per process). All from `exact_joint` (whose docstring says why its
    smaller joint gives the full data's values).
    """
    r = check_redundancy("redundancy", redundancy)
    values = dict(_exact_info(r))
    if pid:
        values.update(_exact_pid(r))
    values["u1"], values["u2"] = unique_counts(r)
    return values


def frozen_map(depth: int = 1, transform_seed: int = 0) -> torch.nn.Sequential:
    """Modality 2's fixed random map: Linear(12,12), then `depth` x [tanh, Linear(12,12)].

    PyTorch's default initialisation, drawn from `transform_seed` without touching the global torch RNG.
    """
    import torch  # here: exact quantities and cached runs need no torch, and importing it takes seconds

    depth = check_depth("depth", depth)
    transform_seed = check_seed("transform_seed", transform_seed)
    width = NUM_SHARED + NUM_UNIQUE
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(transform_seed)
        layers: list[torch.nn.Module] = [torch.nn.Linear(width, width)]
        for _ in range(depth):
            layers += [torch.nn.Tanh(), torch.nn.Linear(width, width)]
    network = torch.nn.Sequential(*layers)
    network.requires_grad_(False)
    return network.eval()


def sample_latents(redundancy: int, n_samples: int, seed: int) -> dict[str, np.ndarray]:
    """Raw latent bits `xc`, `xu1`, `xu2`, the relevant-bit index `v` (0..255) and the label `y`."""
    model = label_model(redundancy)
    rng = np.random.default_rng([int(seed), 101])
    bits = rng.integers(0, 2, size=(n_samples, NUM_SHARED + 2 * NUM_UNIQUE), dtype=np.int64)
    xc, xu1, xu2 = np.split(bits, [NUM_SHARED, NUM_SHARED + NUM_UNIQUE], axis=1)
    relevant = np.concatenate([xc[:, model.red], xu1[:, model.uni1], xu2[:, model.uni2]], axis=1)
    v = relevant @ (1 << np.arange(NUM_RELEVANT)[::-1])
    # y ~ q(y | v) by inverting the cumulative distribution at a uniform draw
    cumulative = np.cumsum(model.q[v], axis=1)
    y = (rng.random(n_samples)[:, None] >= cumulative[:, :-1]).sum(1)
    return {"xc": xc, "xu1": xu1, "xu2": xu2, "v": v, "y": y.astype(np.int64)}


def _split_parts(y: np.ndarray, seed: int, split: tuple[float, float, float], n_train: int | None,
                 n_valid: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sample indices of the whole training split, the labelled training set, validation and test."""
    split_seed = int(np.random.SeedSequence([seed, 202]).generate_state(1)[0])
    pool, valid, test = split_indices(y, split, split_seed, stratify=True)
    n_train = check_n_train(n_train, len(pool), NUM_CLASSES)
    train = pool if n_train is None else pool[labelled_subset(y[pool], n_train, labelled_seed(seed))]
    if n_valid is not None:  # its own stream: the labelled training set does not depend on it
        valid_seed = int(np.random.SeedSequence([seed, 404]).generate_state(1)[0])
        valid = valid[labelled_subset(y[valid], n_valid, valid_seed)]
    return pool, train, valid, test


def make_dataset(redundancy: int, depth: int = 1, n_samples: int = 65536, seed: int = 0,
                 transform_seed: int = 0, split: tuple[float, float, float] = (0.7, 0.15, 0.15),
                 n_train: int | None = None, n_valid: int | None = None) -> PairedDataset:
    """Sample the synthetic study's paired dataset.

    `redundancy` (0..8) is the number of shared label-relevant bits; `depth` (0..16) the depth of modality 2's
    frozen map (`frozen_map(depth, transform_seed)`); `seed` decides the samples and the split. The split is
    stratified by class (`split` fractions of train / valid / test), and both modalities are z-scored with
    their train split's mean and standard deviation. `info` holds `exact_info(redundancy, pid=False)`.

    `n_train` keeps exactly that many labelled training examples, stratified by class and nested as it grows
    (`alignbook.data.labelled.labelled_subset`); None keeps the whole training split. The samples, the
    split and the z-scoring (with the whole training split's statistics: inputs are plentiful, labels are
    scarce) do not depend on it, so every `n_train` is scored on the very same validation and test arrays.
    `n_valid` keeps that many validation examples the same way (stratified, nested as it grows, drawn on a
    stream of its own), for a validation set sized to a label budget; None keeps the whole validation split.
    Neither changes the test split. The latent bits behind every example are returned by
    `latents(dataset, split)`.
    """
    r = check_redundancy("redundancy", redundancy)
    depth = check_depth("depth", depth)
    n_samples = check_sample_size("n_samples", n_samples)
    seed = check_seed("seed", seed)
    transform_seed = check_seed("transform_seed", transform_seed)
    sizes = split_sizes(n_samples, split)  # fractions that leave no part empty
    split = check_split(split)
    check_n_train(n_train, sizes[0], NUM_CLASSES)  # before any sampling
    if n_valid is not None:
        n_valid = check_int_range("n_valid", n_valid, NUM_CLASSES, sizes[1])

    latents = sample_latents(r, n_samples, seed)
    x1 = np.concatenate([latents["xc"], latents["xu1"]], axis=1).astype(np.float32)
    x2_raw = np.concatenate([latents["xc"], latents["xu2"]], axis=1).astype(np.float32)
    import torch

    with torch.no_grad():
        x2 = frozen_map(depth, transform_seed)(torch.from_numpy(x2_raw)).numpy()
    y = latents["y"]

    pool, train, valid, test = _split_parts(y, seed, split, n_train, n_valid)
    # statistics in float64: x2's features can have a mean far larger than their spread
    x1_parts = standardize(*(x1[index].astype(np.float64) for index in (pool, train, valid, test)))[1:]
    x2_parts = standardize(*(x2[index].astype(np.float64) for index in (pool, train, valid, test)))[1:]
    splits = [PairedSplit(a, b, y[index])
              for a, b, index in zip(x1_parts, x2_parts, (train, valid, test), strict=True)]
    params = {"redundancy": r, "depth": depth, "n_samples": n_samples, "seed": seed,
              "transform_seed": transform_seed, "split": split}
    name = f"synthetic r={r} d={depth}"
    if n_train is not None:
        params["n_train"] = int(n_train)
        name += f" n_train={int(n_train)}"
    if n_valid is not None:
        params["n_valid"] = n_valid
        name += f" n_valid={n_valid}"
    return PairedDataset(*splits, task="classification", num_classes=NUM_CLASSES, name=name,
                         info=exact_info(r, pid=False), params=params)


LATENT_NAMES = (*(f"xc{i}" for i in range(NUM_SHARED)), *(f"xu1_{i}" for i in range(NUM_UNIQUE)),
                *(f"xu2_{i}" for i in range(NUM_UNIQUE)))


def latents(dataset: PairedDataset, split: str = "test") -> dict[str, np.ndarray]:
    """The latent bits behind every example of one split of a `make_dataset` dataset, row for row.

    Returns `xc` (n, 8), `xu1` (n, 4), `xu2` (n, 4), the relevant-bit index `v` and the label `y`, drawn
    again from the dataset's `params` (the same seed gives the same samples and split, so nothing is
    stored twice). `bit_roles(redundancy)` says which of these bits the label uses.
    """
    if split not in ("train", "valid", "test"):
        fail("split", f"must be 'train', 'valid' or 'test', got {split!r}")
    params = getattr(dataset, "params", None)
    needed = ("redundancy", "n_samples", "seed", "split")
    if not isinstance(params, dict) or any(key not in params for key in needed):
        fail("dataset", "has no synthetic parameters", "pass a dataset made by alignbook.data.synthetic."
                                                       "make_dataset")
    values = sample_latents(params["redundancy"], params["n_samples"], params["seed"])
    _, train, valid, test = _split_parts(values["y"], params["seed"], tuple(params["split"]),
                                         params.get("n_train"), params.get("n_valid"))
    index = {"train": train, "valid": valid, "test": test}[split]
    picked = {name: array[index] for name, array in values.items()}
    if not np.array_equal(picked["y"], dataset.splits[split].y):
        fail("dataset", f"its {split} labels are not those its parameters generate",
             "pass a dataset made by alignbook.data.synthetic.make_dataset, unmodified")
    return picked


def bit_roles(redundancy: int) -> dict[str, str]:
    """What each latent bit (`LATENT_NAMES`) is at this redundancy level.

    Roles: "shared, in label" (the r bits of `xc` the label uses), "shared, not in label", "unique 1, in
    label" / "unique 1, not in label" (bits of `xu1`, seen by modality 1 only), and the same for "unique 2".
    """
    model = label_model(redundancy)
    roles = {}
    for group, count, used in (("shared", NUM_SHARED, model.red), ("unique 1", NUM_UNIQUE, model.uni1),
                               ("unique 2", NUM_UNIQUE, model.uni2)):
        prefix = {"shared": "xc", "unique 1": "xu1_", "unique 2": "xu2_"}[group]
        for i in range(count):
            roles[f"{prefix}{i}"] = f"{group}, {'in' if i in used else 'not in'} label"
    return roles
