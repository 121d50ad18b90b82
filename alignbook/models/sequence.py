"""Transformer encoders for sequences and images, built by `alignbook.models.branch.build_branch`.

Both encoders turn their input into a sequence of tokens, add a learned positional embedding, run `depth`
pre-norm transformer blocks (`nn.TransformerEncoderLayer`, feed-forward width `2 * width`, GELU, no dropout),
mean-pool the tokens and map the pooled vector to the representation `z` with `Linear(width, repr_dim)`:

- `TransformerEncoder`: feature sequences `(B, T, d)`; one token per time step. Padded steps are ignored.
- `PatchEncoder`: images `(B, H, W)` or `(B, C, H, W)`; one token per non-overlapping `patch_size` patch
  (a small ViT).

Layers are created in forward order (embedding, positional embedding, blocks, output), as `build_branch`'s
convention asks. `forward_layers(x)` returns the mean-pooled output of every block, then `z`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from alignbook.checks import fail
from alignbook.config import TrainConfig


def _check_heads(config: TrainConfig) -> None:
    if config.width % config.num_heads:
        fail("num_heads", f"width={config.width} must be divisible by num_heads={config.num_heads}",
             "choose a width that is a multiple of num_heads")


class _TokenEncoder(nn.Module):
    """Shared part: positional embedding, transformer blocks, masked mean pooling and the output layer."""

    def __init__(self, embed: nn.Module, num_tokens: int, config: TrainConfig):
        super().__init__()
        self.embed = embed  # token embedding, created by the subclass before everything else (forward order)
        self.num_tokens, self.width, self.depth = num_tokens, config.width, config.depth
        self.repr_dim = config.repr_dim
        self.position = nn.Parameter(torch.zeros(1, num_tokens, config.width))
        nn.init.normal_(self.position, std=0.02)  # small, as in ViT: the content embedding dominates at first
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(config.width, config.num_heads, dim_feedforward=2 * config.width,
                                       dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
            for _ in range(config.depth))
        self.out = nn.Linear(config.width, config.repr_dim)

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:  # (B, ...) -> (B, num_tokens, width)
        raise NotImplementedError

    def _padding(self, x: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor | None:
        return padding_mask

    def _pooled_blocks(self, x: torch.Tensor, padding_mask: torch.Tensor | None) -> list[torch.Tensor]:
        h = self._tokens(x) + self.position
        if padding_mask is not None and tuple(padding_mask.shape) != tuple(h.shape[:2]):
            fail("padding_mask", f"must have shape (batch, steps) = {tuple(h.shape[:2])}, got "
                                 f"{tuple(padding_mask.shape)}")
        padding = self._padding(x, padding_mask)
        if padding is None:
            keep = None
            attention_mask = None
        else:
            padding = padding.to(device=h.device, dtype=torch.bool)
            # A fully padded example would make attention NaN: let it attend everywhere; its pooled vector
            # is 0 anyway because no step is kept.
            attention_mask = padding & ~padding.all(dim=1, keepdim=True)
            keep = (~padding).to(h.dtype).unsqueeze(-1)
        pooled = []
        for block in self.blocks:
            h = block(h, src_key_padding_mask=attention_mask)
            if keep is None:
                pooled.append(h.mean(dim=1))
            else:
                pooled.append((h * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0))
        return pooled

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The representation `z`, shape (B, repr_dim)."""
        return self.out(self._pooled_blocks(x, padding_mask)[-1])

    def forward_layers(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The mean-pooled output of every block (B, width), then `z` (B, repr_dim) last."""
        pooled = self._pooled_blocks(x, padding_mask)
        return [*pooled, self.out(pooled[-1])]


class TransformerEncoder(_TokenEncoder):
    """Encoder for feature sequences of shape (B, T, d): one token per time step.

    `Linear(d, width)` embeds each step; the learned positional embedding covers the `T` of `input_shape`.

    Padding: `forward(x, padding_mask)` takes a boolean (B, T) mask, True at padded steps (PyTorch's
    convention); padded steps are not attended to and not pooled, so the output does not depend on their
    values. With `mask_zero_steps` (the default, since `build_branch` passes no mask) a step whose features
    are all exactly 0 is also padding: that is how MultiBench pads short utterances, and `load_multibench`
    keeps those steps at 0 after standardising. Real-valued features are practically never all exactly 0; pass
    `mask_zero_steps=False` for data where they can be.
    """

    def __init__(self, input_shape: tuple[int, ...], config: TrainConfig, mask_zero_steps: bool = True):
        input_shape = tuple(int(s) for s in input_shape)
        if len(input_shape) != 2 or min(input_shape) <= 0:
            fail("input_shape", f"the transformer encoder needs sequences of shape (T, d), got {input_shape}",
                 "use encoder='mlp' for tabular data, encoder='patch' for images")
        _check_heads(config)
        steps, features = input_shape
        super().__init__(nn.Linear(features, config.width), steps, config)
        self.input_shape = input_shape
        self.mask_zero_steps = bool(mask_zero_steps)

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or tuple(x.shape[1:]) != self.input_shape:
            fail("x", f"expected sequences of shape (batch, {self.input_shape[0]}, {self.input_shape[1]}), "
                      f"got {tuple(x.shape)}")
        return self.embed(x)

    def _padding(self, x: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor | None:
        if not self.mask_zero_steps:
            return padding_mask
        zero_steps = (x == 0).all(dim=-1)
        if padding_mask is None:
            return zero_steps if bool(zero_steps.any()) else None
        return padding_mask.to(device=x.device, dtype=torch.bool) | zero_steps


class PatchEncoder(_TokenEncoder):
    """A small vision transformer for images (B, H, W) or (B, C, H, W): one token per `patch_size` patch.

    Patches do not overlap; each is flattened (C * p * p values) and embedded with a `Linear` layer. H and W
    must be divisible by `config.patch_size`.
    """

    def __init__(self, input_shape: tuple[int, ...], config: TrainConfig):
        input_shape = tuple(int(s) for s in input_shape)
        if len(input_shape) not in (2, 3) or min(input_shape) <= 0:
            fail("input_shape", f"the patch encoder needs images of shape (H, W) or (C, H, W), got "
                                f"{input_shape}", "use encoder='transformer' for sequences")
        channels, height, width = (1, *input_shape) if len(input_shape) == 2 else input_shape
        p = config.patch_size
        if height % p or width % p:
            fail("patch_size", f"image height {height} and width {width} must be divisible by patch_size={p}",
                 f"choose a divisor of both, e.g. {math.gcd(height, width)}")
        _check_heads(config)
        super().__init__(nn.Linear(channels * p * p, config.width), (height // p) * (width // p), config)
        self.input_shape = input_shape
        self.channels, self.height, self.image_width, self.patch_size = channels, height, width, p

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.input_shape:
            fail("x", f"expected images of shape (batch, {', '.join(map(str, self.input_shape))}), got "
                      f"{tuple(x.shape)}")
        b, p = x.shape[0], self.patch_size
        x = x.reshape(b, self.channels, self.height // p, p, self.image_width // p, p)
        patches = x.permute(0, 2, 4, 1, 3, 5).reshape(b, self.num_tokens, self.channels * p * p)
        return self.embed(patches)
