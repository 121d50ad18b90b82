"""A run's stored weights: taken from a trained branch (`branch_weights`) and rebuilt into branches
(`load_branches`), so that measurements (alignment, probes) can run after training, from `FitResult`s alone.

The stored names are those of `models.build_branch(...).state_dict()` without the projection head, which only
the alignment loss uses: the encoder (`encoder.*`) and the task head (`head.*`). Both trainers store these
names and shapes (the vectorised trainer unpads its first layer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from alignbook.checks import fail
from alignbook.config import TrainConfig
from alignbook.data.container import PairedDataset
from alignbook.models.branch import Branch, build_branch

# Prefix of the projection head's entries in a branch's state: not stored.
PROJECTION_PREFIX = "projection."
# The task head's weight, (out_dim, repr_dim): its rows give the head's width.
HEAD_WEIGHT = "head.weight"


def branch_weights(state: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """The stored form of a branch's state (`Branch.state_dict()` or a copy of it): every entry but the
    projection head's, as float32 numpy arrays that own their memory."""
    return {name: value.detach().to(torch.float32).numpy().copy() for name, value in state.items()
            if not name.startswith(PROJECTION_PREFIX)}


def load_branches(config: TrainConfig, data: PairedDataset | Sequence[Sequence[int]],
                  weights1: Mapping[str, np.ndarray],
                  weights2: Mapping[str, np.ndarray]) -> tuple[Branch, Branch]:
    """Both branches of a run rebuilt from its stored weights (`FitResult.weights1`, `weights2`), eval mode.

    `data` is the run's dataset or its two input shapes (one example each, no batch dimension); the task
    head's width (number of classes, or 1 for regression) is read from the stored head. Every stored name
    must be one of the branch's and every entry of the branch but its projection head must be stored (a
    strict load); the branches have no projection head. `training.common.representations(branch, x,
    layers=True)` then gives the representations the run's encoders compute.
    """
    shapes = data.input_shapes if isinstance(data, PairedDataset) else data
    if isinstance(shapes, (str, bytes)) or not isinstance(shapes, Sequence) or len(shapes) != 2:
        fail("data", f"must be a PairedDataset or two input shapes, got {shapes!r}")
    branches = []
    for modality, weights in ((1, weights1), (2, weights2)):
        if not isinstance(weights, Mapping) or HEAD_WEIGHT not in weights:
            fail(f"weights{modality}", f"must map parameter names to arrays, {HEAD_WEIGHT!r} among them, got "
                                       f"{type(weights).__name__}", "pass the weights of a run that finished")
        out_dim = int(np.shape(weights[HEAD_WEIGHT])[0])
        branch = build_branch(config, tuple(shapes[modality - 1]), out_dim, seed=0)
        branch.projection = nn.Sequential()  # not stored: only the alignment loss reads it
        state = {name: torch.from_numpy(np.array(value, dtype=np.float32)) for name, value in weights.items()}
        try:
            branch.load_state_dict(state, strict=True)
        except RuntimeError as exc:  # torch's message: a header line, then one line per problem
            lines = str(exc).strip().splitlines()
            fail(f"weights{modality}", f"do not fit this branch ({lines[-1].strip()})",
                 "pass the config and dataset the run was trained with")
        branches.append(branch.eval())
    return branches[0], branches[1]
