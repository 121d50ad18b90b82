"""Encoders, task heads and projection heads: one `Branch` per modality.

Conventions shared with the vectorised trainer (`alignbook.training.vectorized`), which must reproduce
these runs:

- `MLPEncoder(in_dim, width, depth, repr_dim)` is `Linear(in_dim, width), ReLU`, then `depth - 1` times
  `[Linear(width, width), ReLU]`, then `Linear(width, repr_dim)`; its output is the representation `z`.
  Inputs with more than two dimensions are flattened to `(batch, in_dim)`.
- Task head: `Linear(repr_dim, num_classes)` for classification, `Linear(repr_dim, 1)` for regression.
- Projection head (used only by the alignment loss), `config.projection`: "mlp" is `Linear(repr_dim,
  proj_dim), ReLU, Linear(proj_dim, proj_dim)`, "linear" is `Linear(repr_dim, proj_dim)`, "none" passes `z`
  itself to the loss (`projection_dims` lists the layers).
- `build_branch(config, input_shape, out_dim, seed)` seeds torch's RNG with `seed` inside
  `torch.random.fork_rng` (the caller's RNG state is untouched) and constructs, in this order, the encoder,
  the task head and the projection head, each with PyTorch's default initialisation. Every layer of the
  encoder is created in forward order, so the draws are: encoder layers first to last, head, then the
  projection's layers: the encoder and head start from the same weights whatever the projection head.
"""

from __future__ import annotations

import math
from importlib import import_module

import torch
from torch import nn

from alignbook.config import TrainConfig

SEQUENCE_ENCODERS = {"transformer": "TransformerEncoder", "patch": "PatchEncoder"}


class MLPEncoder(nn.Module):
    """A ReLU MLP mapping a (flattened) input to a `repr_dim`-dimensional representation `z`."""

    def __init__(self, in_dim: int, width: int, depth: int, repr_dim: int):
        super().__init__()
        self.in_dim, self.width, self.depth, self.repr_dim = in_dim, width, depth, repr_dim
        hidden: list[nn.Module] = [nn.Linear(in_dim, width)]
        for _ in range(depth - 1):
            hidden.append(nn.Linear(width, width))
        self.hidden = nn.ModuleList(hidden)
        self.out = nn.Linear(width, repr_dim)

    def _flatten(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1) if x.dim() > 2 else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The representation `z` (batch, repr_dim) of inputs `x` (batch, ...), flattened if needed."""
        h = self._flatten(x)
        for layer in self.hidden:
            h = torch.relu(layer(h))
        return self.out(h)

    def forward_layers(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every hidden activation (after its ReLU), then the representation `z` last."""
        h = self._flatten(x)
        layers = []
        for layer in self.hidden:
            h = torch.relu(layer(h))
            layers.append(h)
        layers.append(self.out(h))
        return layers


def task_head(repr_dim: int, out_dim: int) -> nn.Linear:
    """Linear read-out: `out_dim` = number of classes (classification) or 1 (regression)."""
    return nn.Linear(repr_dim, out_dim)


def projection_dims(config: TrainConfig) -> list[tuple[int, int]]:
    """(in, out) of each linear layer of the projection head `config.projection` (ReLU between them)."""
    return {"mlp": [(config.repr_dim, config.proj_dim), (config.proj_dim, config.proj_dim)],
            "linear": [(config.repr_dim, config.proj_dim)], "none": []}[config.projection]


def projection_head(config: TrainConfig) -> nn.Sequential:
    """The projection whose output enters the contrastive loss (never the task head): `projection_dims`
    linear layers with a ReLU between consecutive ones; no layer at all (identity) for "none"."""
    layers: list[nn.Module] = []
    for fan_in, fan_out in projection_dims(config):
        if layers:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(fan_in, fan_out))
    return nn.Sequential(*layers)


class Branch(nn.Module):
    """One modality's trainable parts: `encoder` (x -> z), `head` (z -> output), `projection` (z -> p)."""

    def __init__(self, encoder: nn.Module, head: nn.Module, projection: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.projection = projection

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return `(z, output)`: the representation and the task head's output (logits or prediction)."""
        z = self.encoder(x)
        return z, self.head(z)

    def forward_layers(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's layer-wise representations (hidden activations, then `z`)."""
        return self.encoder.forward_layers(x)


def _sequence_encoder(kind: str, input_shape: tuple[int, ...], config: TrainConfig) -> nn.Module:
    """Import the sequence / image encoders only when asked for, so MLP users never need that module."""
    class_name = SEQUENCE_ENCODERS[kind]
    try:
        module = import_module("alignbook.models.sequence")
    except ModuleNotFoundError as exc:
        if exc.name != "alignbook.models.sequence":
            raise
        raise ImportError(
            f"encoder={kind!r} needs alignbook.models.sequence.{class_name}, which is not available; "
            "use encoder='mlp' or install a complete alignbook") from exc
    return getattr(module, class_name)(tuple(input_shape), config)


def build_encoder(config: TrainConfig, input_shape: tuple[int, ...]) -> nn.Module:
    """The encoder `config.encoder` names, for examples of shape `input_shape` (no batch dimension)."""
    if config.encoder == "mlp":
        in_dim = math.prod(input_shape) if len(input_shape) else 1
        return MLPEncoder(in_dim, config.width, config.depth, config.repr_dim)
    return _sequence_encoder(config.encoder, input_shape, config)


def build_branch(config: TrainConfig, input_shape: tuple[int, ...], out_dim: int, seed: int) -> Branch:
    """A freshly initialised branch; the same `(config, input_shape, out_dim, seed)` gives the same weights.

    Construction order (encoder, task head, projection head) is part of the convention: see the module doc.
    The global torch RNG is left exactly as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        encoder = build_encoder(config, tuple(input_shape))
        head = task_head(config.repr_dim, out_dim)
        projection = projection_head(config)
    return Branch(encoder, head, projection)
