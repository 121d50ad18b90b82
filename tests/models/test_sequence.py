"""Transformer encoders for sequences and images: shapes, padding, determinism, trainability."""

from __future__ import annotations

import pytest
import torch

from alignbook.config import TrainConfig
from alignbook.models import build_branch
from alignbook.models.sequence import PatchEncoder, TransformerEncoder

pytestmark = pytest.mark.usefixtures("one_thread")


CONFIG = TrainConfig(encoder="transformer", width=16, depth=2, repr_dim=8, num_heads=2, patch_size=4)


def test_transformer_shapes_and_layers():
    encoder = TransformerEncoder((12, 5), CONFIG)
    x = torch.randn(6, 12, 5)
    assert encoder(x).shape == (6, 8)
    layers = encoder.forward_layers(x)
    assert [tuple(t.shape) for t in layers] == [(6, 16), (6, 16), (6, 8)]
    assert torch.allclose(layers[-1], encoder(x))


@pytest.mark.parametrize("shape", [(8, 12), (3, 8, 12)])
def test_patch_shapes_and_layers(shape):
    encoder = PatchEncoder(shape, CONFIG)
    assert encoder.num_tokens == 2 * 3
    x = torch.randn(5, *shape)
    assert encoder(x).shape == (5, 8)
    assert [tuple(t.shape) for t in encoder.forward_layers(x)] == [(5, 16), (5, 16), (5, 8)]


def test_patches_do_not_overlap_and_keep_channels_together():
    encoder = PatchEncoder((2, 4, 4), CONFIG.replace(patch_size=2))
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(1, 2, 4, 4)
    captured = {}
    encoder.embed.register_forward_hook(lambda module, args, out: captured.update(patches=args[0]))
    encoder(x)
    patches = captured["patches"][0]
    assert patches.shape == (4, 2 * 2 * 2)
    # first patch: top-left 2 x 2 of channel 0, then of channel 1
    assert patches[0].tolist() == [0, 1, 4, 5, 16, 17, 20, 21]
    assert sorted(patches.flatten().tolist()) == list(range(32))


def test_build_branch_uses_the_sequence_encoders():
    branch = build_branch(CONFIG, (12, 5), 3, seed=1)
    assert isinstance(branch.encoder, TransformerEncoder)
    z, out = branch(torch.randn(4, 12, 5))
    assert z.shape == (4, 8) and out.shape == (4, 3)
    patch_branch = build_branch(CONFIG.replace(encoder="patch"), (8, 8), 1, seed=1)
    assert isinstance(patch_branch.encoder, PatchEncoder)
    assert patch_branch(torch.randn(2, 8, 8))[1].shape == (2, 1)


def test_same_seed_same_weights_and_outputs():
    a, b = (build_branch(CONFIG, (12, 5), 3, seed=7) for _ in range(2))
    c = build_branch(CONFIG, (12, 5), 3, seed=8)
    x = torch.randn(4, 12, 5)
    assert torch.equal(a(x)[0], b(x)[0])
    assert not torch.equal(a(x)[0], c(x)[0])


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_padded_steps_do_not_change_the_output(mode):
    torch.manual_seed(0)
    encoder = TransformerEncoder((10, 4), CONFIG, mask_zero_steps=False)
    getattr(encoder, mode)()
    x = torch.randn(3, 10, 4)
    mask = torch.zeros(3, 10, dtype=torch.bool)
    mask[0, :4] = True  # left padding, as MultiBench
    mask[1, 7:] = True
    mask[2, :] = True  # fully padded: defined, finite
    other = torch.where(mask.unsqueeze(-1), torch.randn(3, 10, 4) * 100, x)
    with torch.no_grad():
        out, out_other = encoder(x, padding_mask=mask), encoder(other, padding_mask=mask)
        unmasked = encoder(other)
    assert torch.isfinite(out).all()
    assert torch.allclose(out, out_other, atol=1e-5)
    assert not torch.allclose(out[:2], unmasked[:2], atol=1e-3)
    for a, b in zip(encoder.forward_layers(x, mask), encoder.forward_layers(other, mask), strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_all_zero_steps_are_padding_by_default():
    torch.manual_seed(0)
    encoder = TransformerEncoder((10, 4), CONFIG).eval()
    x = torch.randn(2, 10, 4)
    x[:, :3] = 0
    mask = torch.zeros(2, 10, dtype=torch.bool)
    mask[:, :3] = True
    with torch.no_grad():
        assert torch.allclose(encoder(x), encoder(x, padding_mask=mask), atol=1e-6)
        encoder.mask_zero_steps = False
        assert not torch.allclose(encoder(x), encoder(x, padding_mask=mask), atol=1e-4)


def test_a_tiny_training_loop_reduces_the_loss():
    torch.manual_seed(0)
    x = torch.randn(64, 8, 3)
    y = (x[:, :, 0].mean(dim=1) > 0).long()  # the label depends on the sequence's content
    branch = build_branch(CONFIG, (8, 3), 2, seed=0)
    optimiser = torch.optim.Adam(branch.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(branch(x)[1], y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_patch_encoder_trains():
    torch.manual_seed(0)
    x = torch.randn(64, 8, 8)
    y = (x[:, :4, :4].mean(dim=(1, 2)) > 0).long()
    branch = build_branch(CONFIG.replace(encoder="patch"), (8, 8), 2, seed=0)
    optimiser = torch.optim.Adam(branch.parameters(), lr=1e-2)
    first = None
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(branch(x)[1], y)
        first = loss.item() if first is None else first
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.5 * first


def test_bad_configurations_are_named():
    with pytest.raises(ValueError, match="num_heads"):
        TransformerEncoder((10, 4), CONFIG.replace(width=15, num_heads=2))
    with pytest.raises(ValueError, match="patch_size"):
        PatchEncoder((28, 30), CONFIG.replace(patch_size=7))
    with pytest.raises(ValueError, match="input_shape"):
        TransformerEncoder((10,), CONFIG)
    with pytest.raises(ValueError, match="input_shape"):
        PatchEncoder((2, 3, 8, 8), CONFIG)
    encoder = TransformerEncoder((10, 4), CONFIG)
    with pytest.raises(ValueError, match="padding_mask"):
        encoder(torch.randn(2, 10, 4), padding_mask=torch.zeros(2, 9, dtype=torch.bool))
    with pytest.raises(ValueError, match="x"):
        encoder(torch.randn(2, 11, 4))
