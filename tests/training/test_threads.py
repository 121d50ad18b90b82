"""Every trainer runs on one thread by default whoever calls it, takes more when asked, and restores the
caller's torch and BLAS thread settings afterwards, also when it fails."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from alignbook.config import TrainConfig
from alignbook.data import PairedDataset, PairedSplit
from alignbook.training import single, vectorized
from alignbook.training.threads import limited_threads

CONFIG = TrainConfig(num_epochs=1, batch_size=64, eval_max_samples=100, knn_k=5)
# The caller's settings: a notebook with torch's default on two cores and a BLAS limit of its own.
CALLER_TORCH, CALLER_BLAS = 2, 3


def tiny_dataset(n: int = 400) -> PairedDataset:
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((n, 5)).astype(np.float32)
    x2 = np.tanh(x1 @ rng.standard_normal((5, 4))).astype(np.float32)
    y = (x1[:, 0] > 0).astype(np.int64)
    splits = [PairedSplit(x1[s], x2[s], y[s]) for s in (slice(0, 200), slice(200, 300), slice(300, n))]
    return PairedDataset(*splits, task="classification")


def thread_settings() -> tuple[int, set[int]]:
    """torch's intra-op threads and the thread counts of every BLAS / OpenMP library loaded."""
    return torch.get_num_threads(), {info["num_threads"] for info in threadpool_info()}


@pytest.fixture
def caller():
    """The caller's settings (a BLAS limit of CALLER_BLAS, then torch at CALLER_TORCH) around the test; yields
    them as `thread_settings()` reports them. torch's own setting is restored after the test."""
    before = torch.get_num_threads()
    try:
        with threadpool_limits(CALLER_BLAS):
            torch.set_num_threads(CALLER_TORCH)  # torch shares its count with OpenMP
            settings = thread_settings()
            assert settings[0] == CALLER_TORCH and CALLER_BLAS in settings[1]
            yield settings
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def seen(monkeypatch):
    """The thread settings at every mini-batch draw of either trainer (each draws its batches between
    checkpoints)."""
    record: list[tuple[int, set[int]]] = []
    for module in (single, vectorized):
        original = module.run_batches

        def draw(*args, _original=original, **kwargs):
            record.append(thread_settings())
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, "run_batches", draw)
    return record


TRAINERS = {
    "fit": lambda data, **kw: single.fit(data, lam=1.0, seed=0, config=CONFIG, **kw),
    "train_branches": lambda data, **kw: single.train_branches(data, lam=1.0, seed=0, config=CONFIG, **kw),
    "fit_unimodal": lambda data, **kw: single.fit_unimodal(data, 2, seed=0, config=CONFIG, **kw),
    "lam0_matches_independent": lambda data, **kw: single.lam0_matches_independent(data, config=CONFIG, **kw),
    "fit_many": lambda data, **kw: vectorized.fit_many(data, [0.0, 1.0], [0, 0], CONFIG, **kw),
}


@pytest.mark.parametrize("name", TRAINERS)
@pytest.mark.parametrize("threads", [None, 2])
def test_trainer_uses_its_threads_and_restores_the_callers(name, threads, caller, seen):
    data = tiny_dataset()
    TRAINERS[name](data, **({} if threads is None else {"threads": threads}))
    expected = 1 if threads is None else threads
    assert seen and all(settings == (expected, {expected}) for settings in seen)
    assert thread_settings() == caller


def test_search_evaluator_uses_one_thread_and_restores_the_callers(caller, seen):
    from alignbook.chapters.lam_search import SearchEvaluator

    evaluate = SearchEvaluator(tiny_dataset(), CONFIG).for_encoder(1)
    assert len(evaluate([0.0, 1.0], 1, 0)) == 2
    assert seen and all(settings == (1, {1}) for settings in seen)
    assert thread_settings() == caller
    with pytest.raises(ValueError, match="threads"):
        SearchEvaluator(tiny_dataset(), CONFIG, threads=0)


def test_settings_are_restored_when_a_trainer_raises(caller):
    with pytest.raises(single.TrainingDiverged):
        single.fit(tiny_dataset(), lam=1.0, config=CONFIG.replace(lr=1e30, grad_clip=1e30))
    assert thread_settings() == caller
    with pytest.raises(ValueError, match="seeds"):
        vectorized.fit_many(tiny_dataset(), [1.0], [-1], CONFIG)
    assert thread_settings() == caller


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_thread_count_is_named(bad):
    with pytest.raises(ValueError, match="threads"):
        single.fit(tiny_dataset(), config=CONFIG, threads=bad)
    with pytest.raises(ValueError, match="threads"), limited_threads(bad):
        pass
