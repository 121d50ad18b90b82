"""The networks: one branch per modality (encoder, task head, projection head) and the alignment module.

`branch` builds a branch (`build_branch`; MLP encoders, or the transformer encoders of `sequence` for
sequences and images), `alignment` the `lam`-weighted symmetric InfoNCE between the two branches'
projections (`ContrastiveAligner`). Their public names are re-exported here.
"""

from alignbook.models.alignment import ContrastiveAligner, info_nce, lam_schedule, symmetric_info_nce
from alignbook.models.branch import (
    SEQUENCE_ENCODERS,
    Branch,
    MLPEncoder,
    build_branch,
    build_encoder,
    projection_dims,
    projection_head,
    task_head,
)

__all__ = [
    "SEQUENCE_ENCODERS", "Branch", "ContrastiveAligner", "MLPEncoder", "build_branch", "build_encoder",
    "info_nce", "lam_schedule", "projection_dims", "projection_head", "symmetric_info_nce", "task_head",
]
