"""Every metric at once: what the metrics need from one representation, computed once (`Summary`), the
cache a caller passes to reuse it (`Summaries`), and the scores of two summaries (`scores`).

A neighbour search and an SVD are most of a measurement's cost, and a trainer measures the same two
representations twice (scores, then chance levels), a layer search each layer against every other. The
summaries are kept in a `Summaries` object that the caller creates and passes along: whatever it holds
was computed from the very arrays asked about (it is keyed by their content), it lives as long as the caller
keeps it, and nothing is shared between calls that do not share it, so a result never depends on what was
measured before, and two threads each with their own object share nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np

from alignbook.checks import check_positive_int, fail
from alignbook.metrics import inputs, kernels

# The metrics `all_scores` computes, in the order of every dict of scores or chance levels.
METRICS = ("mutual_knn", "cka", "cka_unbiased", "cknna", "svcca")


@dataclass(frozen=True)
class Summary:
    """What every metric needs from one representation (n, d), computed once: shared by all pairings."""

    centred: np.ndarray
    constant: bool
    neighbours: np.ndarray  # (n, k) indices of each example's k neighbours
    similarities: np.ndarray  # (n, k): <z_i, z_j> for j in neighbours[i]
    self_hsic: float  # CKNNA's normalising HSIC, unchanged when the examples are relabelled
    basis: np.ndarray  # SVCCA's, of the standardised features


def summarise(x: np.ndarray, k: int, svcca_dim: int) -> Summary:
    """The summary of a checked float64 representation `x` for `k` neighbours and `svcca_dim` directions.

    Its arrays are read-only: a summary may be handed to several pairings, and none may change it.
    """
    centred = kernels.centre(x)
    neighbours, similarities = kernels.neighbours(x, k)
    summary = Summary(centred, kernels.is_constant(x, centred), neighbours, similarities,
                      kernels.self_hsic(neighbours, similarities),
                      kernels.svcca_basis(kernels.svcca_input(centred, True), svcca_dim))
    for array in (summary.centred, summary.neighbours, summary.similarities, summary.basis):
        array.flags.writeable = False
    return summary


class Summaries:
    """The summaries of the representations one caller measures, each computed once.

    Pass one object to the calls that measure the same representations (`all_scores`, `chance_levels`,
    `best_layer_scores`) and they share their neighbour searches and SVDs; each call given none makes its
    own. Entries are keyed by the array's content, `k` and `svcca_dim`, so an array changed in place is
    summarised anew. Nothing is evicted: the object holds what it computed until the caller drops it.
    Not meant to be shared between threads.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple, Summary] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, x: np.ndarray, k: int, svcca_dim: int) -> Summary:
        """The summary of checked float64 `x`, computed on first request."""
        key = (x.shape, k, svcca_dim, hashlib.blake2b(x.tobytes(), digest_size=16).digest())
        summary = self._entries.get(key)
        if summary is None:
            summary = self._entries[key] = summarise(x, k, svcca_dim)
        return summary


def check_summaries(summaries) -> Summaries:
    """`summaries` as given, or a new `Summaries` when None."""
    if summaries is None:
        return Summaries()
    if not isinstance(summaries, Summaries):
        fail("summaries", f"expected a metrics.Summaries or None, got {type(summaries).__name__}")
    return summaries


def summary_pair(z1, z2, k: int, svcca_dim: int, summaries) -> tuple[Summary, Summary]:
    """The summaries of z1 and z2, checked to support `k` neighbours and `svcca_dim` directions."""
    svcca_dim = check_positive_int("svcca_dim", svcca_dim)
    summaries = check_summaries(summaries)
    x1, x2 = inputs.pair(z1, z2, min_rows=4)
    n = x1.shape[0]
    k = inputs.check_k(k, n)
    inputs.check_svcca_rows(n, svcca_dim, x1.shape[1], x2.shape[1])
    return summaries.get(x1, k, svcca_dim), summaries.get(x2, k, svcca_dim)


def shuffled(rep: Summary, order: np.ndarray) -> Summary:
    """`rep` with its examples reordered as `order`, neighbour lists relabelled instead of recomputed."""
    new_label = np.empty_like(order)
    new_label[order] = np.arange(len(order))
    return replace(rep, centred=rep.centred[order], neighbours=new_label[rep.neighbours[order]],
                   similarities=rep.similarities[order], basis=rep.basis[order])


def scores(a: Summary, b: Summary) -> dict[str, float]:
    """Every metric of METRICS, in that order, between the representations summarised by `a` and `b`."""
    if a.constant or b.constant:
        return {name: float("nan") for name in METRICS}
    places = kernels.positions(a.neighbours, b.neighbours)
    cka, cka_unbiased = kernels.linear_ckas(a.centred, b.centred, (False, True))
    return {
        "mutual_knn": int(np.count_nonzero(places >= 0)) / places.size,
        "cka": cka,
        "cka_unbiased": cka_unbiased,
        "cknna": kernels.ratio(kernels.cross_hsic(a.neighbours, a.similarities, b.similarities, places),
                               a.self_hsic, b.self_hsic),
        "svcca": kernels.svcca_from_bases(a.basis, b.basis),
    }
