"""Encoders, heads, projection heads and the seeded construction of a branch."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from alignbook.config import TrainConfig
from alignbook.models import Branch, MLPEncoder, build_branch


def test_mlp_encoder_layout_follows_the_convention():
    encoder = MLPEncoder(in_dim=12, width=8, depth=3, repr_dim=5)
    linears = [m for m in encoder.modules() if isinstance(m, nn.Linear)]
    shapes = [(m.in_features, m.out_features) for m in linears]
    assert shapes == [(12, 8), (8, 8), (8, 8), (8, 5)]
    x = torch.randn(7, 12)
    layers = encoder.forward_layers(x)
    assert [tuple(h.shape) for h in layers] == [(7, 8), (7, 8), (7, 8), (7, 5)]
    assert all(bool((h >= 0).all()) for h in layers[:-1])  # hidden activations are taken after the ReLU
    assert torch.equal(layers[-1], encoder(x))


def test_mlp_encoder_flattens_inputs_with_more_than_two_dims():
    encoder = MLPEncoder(in_dim=6, width=4, depth=1, repr_dim=3)
    x = torch.randn(5, 2, 3)
    assert torch.equal(encoder(x), encoder(x.reshape(5, 6)))


def test_build_branch_draws_encoder_then_head_then_projection_from_the_seed():
    config = TrainConfig(width=8, depth=2, repr_dim=6, proj_dim=4)
    branch = build_branch(config, (12,), out_dim=4, seed=123)
    torch.manual_seed(123)
    expected = Branch(MLPEncoder(12, 8, 2, 6), nn.Linear(6, 4),
                      nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 4)))
    for (name, a), (_, b) in zip(branch.state_dict().items(), expected.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("projection, shapes", [
    ("mlp", [(4, 6), (4,), (4, 4), (4,)]), ("linear", [(4, 6), (4,)]), ("none", [])])
def test_projection_heads_and_the_encoder_they_leave_alone(projection, shapes):
    config = TrainConfig(width=8, depth=2, repr_dim=6, proj_dim=4, projection=projection)
    branch = build_branch(config, (12,), out_dim=4, seed=7)
    assert [tuple(p.shape) for p in branch.projection.parameters()] == shapes
    z = torch.randn(5, 6)
    if projection == "none":
        assert torch.equal(branch.projection(z), z)
    else:
        assert branch.projection(z).shape == (5, 4)
    reference = build_branch(TrainConfig(width=8, depth=2, repr_dim=6, proj_dim=4), (12,), out_dim=4, seed=7)
    for part in ("encoder", "head"):  # drawn first: the same weights whatever the projection head
        pairs = zip(getattr(branch, part).parameters(), getattr(reference, part).parameters(), strict=True)
        assert all(torch.equal(a, b) for a, b in pairs)
    with pytest.raises(ValueError, match="^projection: must be one of"):
        TrainConfig(projection="deep")


def test_build_branch_is_deterministic_and_leaves_the_global_rng_alone():
    config = TrainConfig()
    state = torch.get_rng_state()
    a = build_branch(config, (12,), 4, seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    b = build_branch(config, (12,), 4, seed=1)
    c = build_branch(config, (12,), 4, seed=2)
    params = list(zip(a.parameters(), b.parameters(), c.parameters(), strict=True))
    assert all(torch.equal(pa, pb) for pa, pb, _ in params)
    assert not all(torch.equal(pa, pc) for pa, _, pc in params)


def test_branch_outputs_representation_and_head_output():
    branch = build_branch(TrainConfig(repr_dim=6, proj_dim=5), (3, 4), out_dim=1, seed=0)
    z, out = branch(torch.randn(9, 3, 4))
    assert z.shape == (9, 6) and out.shape == (9, 1)
    assert branch.projection(z).shape == (9, 5)


def test_sequence_encoders_give_a_clear_error_when_their_module_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "alignbook.models.sequence", None)  # makes the import fail
    with pytest.raises(ImportError, match="models.sequence"):
        build_branch(TrainConfig(encoder="transformer"), (50, 12), 4, seed=0)
