"""Training configuration: a plain, frozen, hashable, serialisable object that sweep caches key on, and the
book's training rule (`training_budget`: early stopping on validation with a cap)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass

from alignbook.checks import fail

ENCODERS = ("mlp", "transformer", "patch")
SCHEDULES = ("constant", "warmup", "linear")
PROJECTIONS = ("mlp", "linear", "none")
LAYERS = ("last", "best")
# Most geometric checkpoints a run may ask for (np.geomspace allocates them all; a run validated at more
# steps than this gains nothing over validating every few steps with `check_every`).
MAX_CHECKPOINTS = 10_000


# The book's training rule, the same at every labelled-set size, the full training split included: validate
# every CHECK_EVERY optimiser steps; stop once neither encoder's validation accuracy has improved for PATIENCE
# checkpoints (each encoder keeps its best); stop anyway at MAX_STEPS, the cap. At most CAP_SHARE_LIMIT of a
# cell's runs may reach the cap (the verdict protocol's rule; cells above it are marked). Here, not in the
# chapters, so that the package's own studies (`alignbook.advise`) train by the same rule.
# Chosen on a pilot of the regime map's deciding cells (depths 1 and 10, 3,000 to 45,875 labels, r = 4 and 8,
# lams 0 to 2, 3 seeds, patience 10): no run came near the cap (the longest stopped at 10,700 steps), and
# stopping after 8 checkpoints without improvement instead of 10 would have saved 200 to 700 steps per run at
# depth 1 and about 1,200 at depth 10, where it costs the slowly improving encoder of the transformed modality
# 0.004 to 0.007 in validation accuracy (5 checkpoints: 0.01 to 0.02). 8 keeps the book within its budget.
CHECK_EVERY = 100
PATIENCE = 8
MAX_STEPS = 20_000
CAP_SHARE_LIMIT = 0.05


def training_budget(batch_size: int = 256, check_every: int = CHECK_EVERY, patience: int = PATIENCE,
                    max_steps: int = MAX_STEPS) -> dict:
    """`TrainConfig` options of the book's training rule (module constants): early stopping on validation
    with a cap."""
    return {"batch_size": int(batch_size), "num_steps": int(max_steps), "check_every": int(check_every),
            "patience": int(patience)}


def _is_plain_number(value) -> bool:
    """A Python int or float, booleans excluded: what the config's JSON (`to_dict`, `key`) can hold."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides one training run except the data, `lam` and `seed`.

    Defaults are the synthetic study's: two 32-wide MLP encoders, AdamW, gradient clipping per encoder,
    checkpoint chosen per encoder on validation accuracy (validation L1 for regression), the whole budget
    trained. The budget (`num_steps`, else `num_epochs` epochs) is a cap: with `patience = P > 0` a run stops
    once neither encoder's validation score has improved (strictly) for P consecutive checkpoints. Checkpoints
    come every `check_every` steps, else at `num_checkpoints` geometrically spaced steps, else after every
    epoch; the last step is always one.
    """

    # architecture
    encoder: str = "mlp"  # mlp | transformer (sequences) | patch (images)
    width: int = 32  # hidden width of each encoder (12 needs 20-30+ epochs to invert x2's tanh map)
    depth: int = 2  # hidden layers of each encoder (MLP) or blocks (transformer)
    repr_dim: int = 32  # size of the representation z each encoder outputs
    proj_dim: int = 32  # size of the projection head's output used by the alignment loss
    projection: str = "mlp"  # projection head: mlp (Linear, ReLU, Linear) | linear | none (z itself)
    num_heads: int = 2  # attention heads (transformer only)
    patch_size: int = 7  # patch side (patch encoder only)
    # alignment
    temperature: float = 0.1  # InfoNCE temperature (initial value when learnable)
    learn_temperature: bool = False
    min_temperature: float = 0.01  # clamp of a learnable temperature
    lam_schedule: str = "constant"  # constant | warmup (0 then lam) | linear (ramp 0 -> lam)
    schedule_epochs: int = 0  # epochs of warm-up or ramp
    # optimisation
    num_epochs: int = 15  # both encoders converge by then at r = 8 (measured, synthetic data)
    num_steps: int = 0  # > 0: train exactly this many optimiser steps instead of num_epochs epochs
    num_checkpoints: int = 0  # validations: 0 after every epoch; K > 0 at K geometrically spaced steps
    check_every: int = 0  # > 0: validate every this many steps instead (fixed spacing, for early stopping)
    patience: int = 0  # > 0: stop once neither encoder improved for this many checkpoints; 0: whole budget
    batch_size: int = 512
    lr: float = 1e-2
    weight_decay: float = 1e-4
    grad_clip: float = 1.0  # max L2 norm of each encoder branch's gradient
    # measurement (of alignment, from the stored weights: the trainers do not read these)
    metric_layer: str = "last"  # last | best (best pair of layers, as the predecessor did)
    knn_k: int = 10
    eval_max_samples: int = 2000  # alignment metrics use the first this-many test examples (cost ~ n^2)

    def __post_init__(self):
        choices = {"encoder": ENCODERS, "lam_schedule": SCHEDULES, "metric_layer": LAYERS,
                   "projection": PROJECTIONS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                fail(name, f"must be one of {allowed}, got {getattr(self, name)!r}")
        for name in ("width", "depth", "repr_dim", "proj_dim", "num_heads", "patch_size", "num_epochs",
                     "batch_size", "knn_k", "eval_max_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                fail(name, f"must be a positive integer, got {value!r}")
        for name in ("schedule_epochs", "num_steps", "num_checkpoints", "check_every", "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                fail(name, f"must be an integer >= 0, got {value!r}")
        if self.num_checkpoints > MAX_CHECKPOINTS:
            fail("num_checkpoints", f"must be at most {MAX_CHECKPOINTS}, got {self.num_checkpoints}",
                 "for denser validation use check_every")
        if self.check_every and self.num_checkpoints:
            fail("check_every", f"cannot be combined with num_checkpoints = {self.num_checkpoints}",
                 "set one of them to 0")
        for name in ("temperature", "min_temperature", "lr", "grad_clip"):
            value = getattr(self, name)
            if not _is_plain_number(value) or not math.isfinite(value) or value <= 0:
                fail(name, f"must be a finite number > 0, got {value!r}")
        decay = self.weight_decay
        if not _is_plain_number(decay) or not math.isfinite(decay) or decay < 0:
            fail("weight_decay", f"must be a finite number >= 0, got {self.weight_decay!r}")
        if not isinstance(self.learn_temperature, bool):
            fail("learn_temperature", f"must be true or false, got {self.learn_temperature!r}")

    def to_dict(self) -> dict:
        """Every field as plain data (what `from_dict` reads back and cache keys hash)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """A config from a mapping of field names to values; unknown names and bad values fail."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            fail(unknown[0], f"is not a training option; known options: {', '.join(sorted(known))}")
        return cls(**values)

    def replace(self, **changes) -> TrainConfig:
        """A copy with the given fields changed (validated like a new config); unknown names fail."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            fail(unknown[0], "is not a training option")
        return dataclasses.replace(self, **changes)

    def key(self) -> str:
        """Stable short hash of every field."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
