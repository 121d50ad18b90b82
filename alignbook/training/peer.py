"""The idiomatic peer of the benchmark: one run trained the way a researcher writes it in plain PyTorch.

`peer_fit` is the loop `alignbook.training.bench` measures the package's trainers against: an `nn.Module` per
encoder (`PeerEncoder`), `torch.optim.AdamW`, autograd through the textbook symmetric InfoNCE
(`textbook_info_nce`), one run at a time. It is given the same architecture, initial weights, data,
mini-batches, epochs, clipping and checkpoints as the package's trainers, so it computes the same function up
to float rounding (at `lam = 0`, bit for bit what `single.fit` computes).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alignbook.checks import fail
from alignbook.config import TrainConfig
from alignbook.training.results import FitResult
from alignbook.training.seeding import batch_indices, branch_seed


class PeerEncoder(nn.Module):
    """One modality as a researcher writes it: an MLP encoder, its task head and its projection head.

    The layers are created in the order `models.build_branch` creates them (encoder first to last layer, head,
    projection), so the same seed gives the same initial weights as the package's trainers.
    """

    def __init__(self, in_dim: int, out_dim: int, config: TrainConfig):
        super().__init__()
        layers: list[nn.Module] = []
        for fan_in in [in_dim] + [config.width] * (config.depth - 1):
            layers += [nn.Linear(fan_in, config.width), nn.ReLU()]
        self.encoder = nn.Sequential(*layers, nn.Linear(config.width, config.repr_dim))
        self.head = nn.Linear(config.repr_dim, out_dim)
        self.projection = nn.Sequential(nn.Linear(config.repr_dim, config.proj_dim), nn.ReLU(),
                                        nn.Linear(config.proj_dim, config.proj_dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encoder(x)
        return z, self.head(z)


def textbook_info_nce(p1: torch.Tensor, p2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE as papers write it: cross-entropy of the cosine logits, both directions, averaged."""
    p1, p2 = F.normalize(p1, dim=1), F.normalize(p2, dim=1)
    logits = p1 @ p2.T / temperature
    labels = torch.arange(len(logits))
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def peer_fit(dataset, lam: float, seed: int, config: TrainConfig) -> FitResult:
    """One run trained by an idiomatic PyTorch loop, for the benchmark's comparison (not for the study).

    Same recipe as `single.fit` (initial weights, `seeding.batch_indices`, losses, one AdamW per encoder with
    torch's defaults, gradient clipping per encoder, checkpoint per encoder on validation accuracy), written
    the plain way: modules, autograd, one optimiser step per mini-batch. Classification, MLP encoders, a
    fixed temperature, a constant `lam`, whole epochs validated after each and no early stopping only: the
    benchmark's workload.
    """
    if dataset.task != "classification" or config.encoder != "mlp" or config.learn_temperature:
        fail("config", "the peer trains classification with MLP encoders and a fixed temperature only")
    if config.lam_schedule != "constant" and config.schedule_epochs > 0:
        fail("config.lam_schedule", "the peer trains with a constant lam only")
    if config.num_steps or config.num_checkpoints or config.check_every or config.patience:
        fail("config", "the peer trains whole epochs, validated after each, without early stopping")

    def inputs(split) -> list[torch.Tensor]:
        return [torch.as_tensor(x, dtype=torch.float32).reshape(len(split), -1) for x in (split.x1, split.x2)]

    x_train, x_valid, x_test = inputs(dataset.train), inputs(dataset.valid), inputs(dataset.test)
    y_train, y_valid, y_test = (torch.as_tensor(split.y, dtype=torch.long)
                                for split in (dataset.train, dataset.valid, dataset.test))
    models, optimizers = [], []
    for modality, x in zip((1, 2), x_train, strict=True):
        with torch.random.fork_rng(devices=[]):  # the caller's random state stays as it was
            torch.manual_seed(branch_seed(seed, modality))
            model = PeerEncoder(x.shape[1], dataset.num_classes, config)
        models.append(model)
        optimizers.append(torch.optim.AdamW(model.parameters(), lr=config.lr,
                                            weight_decay=config.weight_decay))
    best = [{"acc": -math.inf} for _ in models]
    history = []
    for epoch in range(config.num_epochs):
        for model in models:
            model.train()
        sums = np.zeros(3)
        batches = batch_indices(len(y_train), config.batch_size, seed, epoch)
        for index in batches:
            index = torch.from_numpy(index)
            (z1, out1), (z2, out2) = (model(x[index]) for model, x in zip(models, x_train, strict=True))
            task1, task2 = F.cross_entropy(out1, y_train[index]), F.cross_entropy(out2, y_train[index])
            loss = task1 + task2
            if lam > 0:
                p1, p2 = models[0].projection(z1), models[1].projection(z2)
                align = textbook_info_nce(p1, p2, config.temperature)
                loss = loss + lam * align
            for optimizer in optimizers:
                optimizer.zero_grad()
            loss.backward()
            for model, optimizer in zip(models, optimizers, strict=True):
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
            sums += [task1.item(), task2.item(), align.item() if lam > 0 else math.nan]
        record = {"epoch": epoch, "lam": lam, "train_task1": sums[0] / len(batches),
                  "train_task2": sums[1] / len(batches), "train_align": sums[2] / len(batches)}
        for modality, (model, x, keep) in enumerate(zip(models, x_valid, best, strict=True), start=1):
            model.eval()
            with torch.no_grad():
                output = model(x)[1]
            acc = (output.argmax(dim=1) == y_valid).sum().item() / len(y_valid)
            record[f"val_acc{modality}"] = acc
            record[f"val_loss{modality}"] = F.cross_entropy(output, y_valid).item()
            if acc > keep["acc"]:
                keep.update(acc=acc, epoch=epoch, state=copy.deepcopy(model.state_dict()))
        history.append(record)
    result = FitResult(lam=lam, seed=seed, config=config, history=history,
                       steps=len(batches) * config.num_epochs, hit_cap=True)
    for modality, (model, x, keep) in enumerate(zip(models, x_test, best, strict=True), start=1):
        model.load_state_dict(keep["state"])
        model.eval()
        with torch.no_grad():
            output = model(x)[1]
        setattr(result, f"acc{modality}", (output.argmax(dim=1) == y_test).sum().item() / len(y_test))
        setattr(result, f"loss{modality}", F.cross_entropy(output, y_test).item())
        setattr(result, f"val_acc{modality}", keep["acc"])
        setattr(result, f"best_epoch{modality}", keep["epoch"])
    return result
