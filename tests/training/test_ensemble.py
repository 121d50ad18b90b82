"""PyTorch's model ensembling (torch.func), the benchmark's comparison, trains what single.fit trains."""

from __future__ import annotations

import math

import pytest

from alignbook.config import TrainConfig
from alignbook.data.synthetic import make_dataset

pytestmark = pytest.mark.usefixtures("one_thread")
CONFIG = TrainConfig(num_epochs=2, batch_size=128)


@pytest.fixture(scope="module")
def dataset():
    return make_dataset(4, n_samples=2048, seed=0)


def test_ensemble_runs_equal_single_fit_to_rounding(dataset):
    from alignbook.training.ensemble import ensemble_fit_many
    from alignbook.training.single import fit

    lams, seeds = [1.0, 0.0, 2.0], [0, 0, 1]  # lam = 0 trains in an ensemble of its own
    for result, lam, seed in zip(ensemble_fit_many(dataset, lams, seeds, CONFIG), lams, seeds, strict=True):
        reference = fit(dataset, lam, seed, CONFIG)
        assert (result.lam, result.seed) == (lam, seed)
        first, theirs = result.history[0], reference.history[0]
        assert first["step"] == theirs["step"] == 11
        for key in ("train_task1", "train_task2", "train_align", "val_loss1", "val_loss2"):
            if math.isnan(theirs[key]):
                assert math.isnan(first[key]), key
            else:  # a wrong gradient, batch or initialisation moves these by far more
                assert first[key] == pytest.approx(theirs[key], rel=1e-5), key
        assert abs(result.acc1 - reference.acc1) <= 0.01 and abs(result.acc2 - reference.acc2) <= 0.01
        assert (result.steps, result.hit_cap) == (reference.steps, reference.hit_cap) == (22, True)


def test_ensemble_refuses_what_it_does_not_train(dataset):
    from alignbook.training.ensemble import ensemble_fit_many

    with pytest.raises(ValueError, match="^config: the ensemble trains classification with MLP encoders"):
        ensemble_fit_many(dataset, [1.0], [0], CONFIG.replace(learn_temperature=True))
    with pytest.raises(ValueError, match="^config.lam_schedule"):
        ensemble_fit_many(dataset, [1.0], [0], CONFIG.replace(lam_schedule="warmup", schedule_epochs=1))
    with pytest.raises(ValueError, match="^config.patience"):
        ensemble_fit_many(dataset, [1.0], [0], CONFIG.replace(patience=2))
