"""A run's stored weights: the names build_branch gives them, without the projection head, and back into
branches that compute what the trained ones computed; weights that do not fit are refused by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alignbook.config import TrainConfig
from alignbook.data import PairedDataset, PairedSplit
from alignbook.models.branch import build_branch
from alignbook.training.common import representations
from alignbook.training.weights import branch_weights, load_branches

pytestmark = pytest.mark.usefixtures("one_thread")


def _sequences(n: int = 60) -> PairedDataset:
    """Sequences of 6 steps of 3 features paired with 4 steps of 5 features: the transformer's inputs."""
    rng = np.random.default_rng(0)
    x1 = rng.normal(size=(n, 6, 3)).astype(np.float32)
    x2 = rng.normal(size=(n, 4, 5)).astype(np.float32)
    y = np.arange(n) % 3
    parts = (slice(0, 40), slice(40, 50), slice(50, n))
    return PairedDataset(*(PairedSplit(x1[part], x2[part], y[part]) for part in parts))


def test_branch_weights_are_the_state_without_the_projection_head():
    branch = build_branch(TrainConfig(width=8, repr_dim=4), (5,), 3, seed=1)
    weights = branch_weights(branch.state_dict())
    assert list(weights) == ["encoder.hidden.0.weight", "encoder.hidden.0.bias", "encoder.hidden.1.weight",
                             "encoder.hidden.1.bias", "encoder.out.weight", "encoder.out.bias", "head.weight",
                             "head.bias"]
    assert weights["encoder.hidden.0.weight"].shape == (8, 5) and weights["head.weight"].shape == (3, 4)
    assert all(value.dtype == np.float32 for value in weights.values())
    weights["head.bias"][0] += 1.0  # a copy: the branch is untouched
    assert not np.array_equal(weights["head.bias"], branch.head.bias.detach().numpy())


def test_transformer_encoders_round_trip_bit_for_bit():
    from alignbook.training.single import fit, train_branches

    data = _sequences()
    settings = {"encoder": "transformer", "width": 8, "depth": 1, "repr_dim": 4, "num_heads": 2,
                "num_epochs": 1, "batch_size": 20}
    config = TrainConfig(**settings)
    result = fit(data, lam=0.5, seed=0, config=config)
    trained = train_branches(data, lam=0.5, seed=0, config=config)[:2]
    loaded = load_branches(config, data.input_shapes, result.weights1, result.weights2)
    for branch, again, x in zip(trained, loaded, (data.test.x1, data.test.x2), strict=True):
        mine, theirs = representations(branch, x, layers=True), representations(again, x, layers=True)
        assert len(mine) == len(theirs) and all(map(np.array_equal, mine, theirs))
    assert not any(name.startswith("projection.") for name in result.weights1)


def test_weights_that_do_not_fit_are_refused_naming_them():
    config = TrainConfig(width=8, repr_dim=4)
    weights = branch_weights(build_branch(config, (5,), 3, seed=1).state_dict())
    shapes = ((5,), (5,))
    with pytest.raises(ValueError, match=r"^weights2: do not fit this branch \(.*size mismatch"):
        load_branches(config, ((5,), (6,)), weights, weights)
    missing = {k: v for k, v in weights.items() if k != "encoder.out.bias"}
    with pytest.raises(ValueError, match=r"^weights1: do not fit this branch \(.*encoder\.out\.bias"):
        load_branches(config, shapes, missing, weights)
    extra = {**weights, "projection.0.weight": np.zeros((4, 4), np.float32)}
    with pytest.raises(ValueError, match=r"^weights2: do not fit this branch \(.*projection\.0\.weight"):
        load_branches(config, shapes, weights, extra)
    with pytest.raises(ValueError, match="^weights1: must map parameter names to arrays"):
        load_branches(config, shapes, None, weights)
    with pytest.raises(ValueError, match="^data: must be a PairedDataset or two input shapes"):
        load_branches(config, (5,), weights, weights)
    first, second = load_branches(config, shapes, weights, weights)
    assert len(first.projection) == 0 and not first.training
    assert torch.equal(second.head.weight, torch.from_numpy(weights["head.weight"]))
