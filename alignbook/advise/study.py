"""The study behind the advice: which runs answer "should I align?" for a user's pairs, how long they take,
and running them.

`plan_study` turns the data and a budget of runs into a `Study`: a `lam` grid from 0 to 4, seeds that each
draw their own split and labelled subset (unless the data fix the split), the user's label budget and, where
the data allow, a scarcer one, and training settings sized from the data (`train_settings`: MLP encoders as
wide as the larger feature count, or the book's sequence encoder for sequences; the book's training rule,
`config.training_budget`). Each default is also stated in words (`Study.defaults`) for the report.
`estimate_time` measures what a run costs on these shapes before the study starts, and `run_study` runs it
through `sweep.run_sweep` (cache, resume, worker processes or a Ray cluster).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

from alignbook.analysis.protocol import MIN_SEEDS
from alignbook.checks import check_lam, check_list, check_positive_int, fail
from alignbook.config import CHECK_EVERY, MAX_STEPS, PATIENCE, TrainConfig, training_budget
from alignbook.data.labelled import check_n_train, labelled_size
from alignbook.data.user import UserPairs, register
from alignbook.sweep import SweepSpec, resolve_workers, run_sweep

DEFAULT_LAMS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
DEFAULT_BUDGET = 60  # 5 seeds x 6 lams x 2 label budgets
SCARCE_SHARE = 0.1  # the scarcer label budget: this share of the user's labels ...
MIN_SCARCE_PER_CLASS = 10  # ... when it still holds this many labels per class
MIN_TEST = 30  # test examples below which no accuracy difference between two lams can be shown
WIDTHS = (32, 128)  # an MLP encoder's width: the power of two at or above the larger feature count, clipped
# The book's sequence encoder (chapter 05's BasicMotions setting): one transformer block of width 32
SEQUENCE_SETTINGS = {"encoder": "transformer", "width": 32, "depth": 1, "lr": 3e-3}
BATCH_SIZE = 256  # the book's, at every label budget (chapters 03 and 04)
EVAL_SAMPLES = 1000  # test examples the alignment metrics use (the advice does not rest on them)
PILOT_STEPS = 2 * CHECK_EVERY  # steps of the group timed by `estimate_time`
PILOT_GROUP = 8  # runs in that group


@dataclass(frozen=True)
class Study:
    """What the advice trains: every `lam` x seed at each label budget (`labels`: "all" for every labelled
    example of the training part, else a number), with one training configuration (`train`: `TrainConfig`
    options); `label_sizes` gives each budget's labelled examples (for "all" under a grouped split, those
    of seed 0), `defaults` every default in words."""

    name: str
    lams: tuple[float, ...]
    seeds: tuple[int, ...]
    labels: tuple[int | str, ...]
    label_sizes: dict
    train: dict
    budget: int
    defaults: dict = field(default_factory=dict)

    @property
    def n_runs(self) -> int:
        return len(self.lams) * len(self.seeds) * len(self.labels)

    def config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.train)

    def spec(self, kind: str, lams=None, seeds=None, labels=None) -> SweepSpec:
        """The sweep of this study (or of part of it) on the registered dataset kind `kind`."""
        return SweepSpec.from_dict({
            "name": self.name, "dataset": {"kind": kind},
            "dataset_grid": {"labels": list(self.labels if labels is None else labels)},
            "lams": list(self.lams if lams is None else lams),
            "seeds": list(self.seeds if seeds is None else seeds),
            "data_seed": "seed", "train": dict(self.train)})


def sweep_name(pairs: UserPairs) -> str:
    """The sweep's name (it names the results files): "advise-" and the data's name in safe characters."""
    return "advise-" + (re.sub(r"[^A-Za-z0-9_.-]+", "-", pairs.name).strip("-.") or "data")[:80]


def train_settings(pairs: UserPairs) -> tuple[dict, dict]:
    """`TrainConfig` options for these data, and each default in words."""
    test = len(pairs.parts(0)[2])
    if "sequence" in pairs.kinds:
        settings = dict(SEQUENCE_SETTINGS)
        encoders = (f"the book's sequence encoder for each modality: {settings['depth']} transformer block "
                    f"of width {settings['width']}, learning rate {settings['lr']:g}")
    else:
        larger = max(math.prod(shape) for shape in pairs.input_shapes)
        width = min(WIDTHS[1], max(WIDTHS[0], 2 ** math.ceil(math.log2(larger))))
        settings = {"encoder": "mlp", "width": width}
        encoders = (f"an MLP encoder for each modality: 2 hidden layers of width {width} (the power of two "
                    f"at or above the larger feature count, {larger}, kept within {WIDTHS[0]} to "
                    f"{WIDTHS[1]})")
    settings.update(training_budget(BATCH_SIZE), eval_max_samples=EVAL_SAMPLES,
                    knn_k=max(1, min(10, test // 3)))
    words = {
        "encoders": encoders,
        "training": (f"AdamW, batches of {BATCH_SIZE} (the whole labelled set when smaller; the "
                     "negatives of InfoNCE are the rest of the batch); validation every "
                     f"{CHECK_EVERY} steps, stop once neither encoder improved for {PATIENCE} checks, at "
                     f"most {MAX_STEPS:,} steps (the book's rule); each encoder keeps its best checkpoint "
                     "on validation accuracy"),
        "alignment": "InfoNCE between projection heads, temperature 0.1, weight lam",
    }
    words.update({f"note {i + 1}": note for i, note in enumerate(pairs.notes)})
    return settings, words


def plan_study(pairs: UserPairs, budget: int = DEFAULT_BUDGET, lams=DEFAULT_LAMS, labels: int | None = None,
               scarce_share: float = SCARCE_SHARE) -> Study:
    """The study for `pairs` within `budget` runs (seeds x lams x label budgets).

    `labels` is the user's label budget (None: every example of the training part). A scarcer budget,
    `scarce_share` of it, joins when it keeps `MIN_SCARCE_PER_CLASS` labels per class and the budget
    allows `MIN_SEEDS` seeds at both; the seeds are as many as the budget allows. `lams` must start at 0
    (training alone, the baseline every gain is measured against).
    """
    budget = check_positive_int("budget", budget)
    lams = tuple(check_list("lams", lams, check_lam, increasing=True))
    if lams[0] != 0 or len(lams) < 2:
        fail("lams", f"must start with 0 (training alone, the baseline) and hold another value, got "
                     f"{list(lams)}")
    test = len(pairs.parts(0)[2])
    if test < MIN_TEST:
        fail("data", f"its test part holds {test} examples; at least {MIN_TEST} are needed to compare "
                     "accuracies", "give more examples")
    available = pairs.train_size(0)
    user = check_n_train(labels, available, pairs.num_classes) or available
    scarce = labelled_size(scarce_share, user, pairs.num_classes) if 0 < scarce_share < 1 else user
    sizes = {"all" if labels is None else user: user}
    if MIN_SCARCE_PER_CLASS * pairs.num_classes <= scarce < user:
        sizes[scarce] = scarce
    n_seeds = budget // (len(lams) * len(sizes))
    if n_seeds < MIN_SEEDS and len(sizes) == 2:
        sizes.pop(scarce)
        n_seeds = budget // len(lams)
    if n_seeds < MIN_SEEDS:
        fail("budget", f"{budget} runs allow {n_seeds} seeds of {len(lams)} lams; a verdict needs "
                       f"{MIN_SEEDS}",
             f"give at least {MIN_SEEDS * len(lams)} runs, or fewer lams")
    train, words = train_settings(pairs)
    seeds = tuple(range(n_seeds))
    split = {"fixed": "the data's own split (each seed draws the labelled subset and the initialisation)",
             "groups": "70 / 15 / 15 % of the rows, whole groups per part, drawn per seed",
             "stratified": "70 / 15 / 15 % train / valid / test, stratified by class, drawn per seed"}
    words = {
        "lam grid": ", ".join(f"{v:g}" for v in lams),
        "seeds": f"{n_seeds} per lam and label budget, each drawing its own data and initialisation",
        "label budgets": " and ".join(f"{n:,}" for n in sizes.values()) + " labelled training examples",
        "split": split[pairs.split_rule], **words,
        "verdict": "the book's protocol: lam chosen on validation by other seeds, gain tested on test",
    }
    return Study(sweep_name(pairs), lams, seeds, tuple(sizes), sizes, train, budget, words)


# --------------------------------------------------------------------------------------------------------
# the time it takes, and running it


@dataclass(frozen=True)
class TimeEstimate:
    """The expected wall time of a study: `runs` runs of about `steps` steps (the pilot run's: it trained
    `steps` steps at `lam = 0` in `pilot_seconds`), at `step_ms` milliseconds per run and step (of runs
    trained `together`, or one at a time), over `workers` processes."""

    seconds: float
    runs: int
    steps: int
    pilot_seconds: float
    step_ms: float
    workers: int
    together: bool = True

    def text(self) -> str:
        how = "runs trained together cost" if self.together else "runs train one at a time, at"
        return (f"about {self.seconds / 60:.1f} min for {self.runs} runs: a pilot run at lam = 0 trained "
                f"{self.steps:,} steps ({self.pilot_seconds:.1f} s); {how} "
                f"{self.step_ms:.2f} ms per run and step, on {self.workers} worker process(es) with cores to "
                f"themselves. Runs that stop later take longer; none trains more than {MAX_STEPS:,} steps")


def estimate_time(pairs: UserPairs, study: Study, workers: int | str = "auto",
                  cache_dir=None) -> TimeEstimate:
    """Measure a run's cost on these shapes, then extrapolate to the study: one real run (`lam = 0`, the
    first seed, the user's label budget; cached, so the study does not train it again) gives the steps a
    run takes, and `PILOT_STEPS` steps of `PILOT_GROUP` runs trained together give the cost per run and
    step (the sequence encoder trains runs one at a time: the pilot run's own cost)."""
    from alignbook.training.vectorized import fit_many, vectorization_blocker

    kind = register(pairs)
    pilot = run_sweep(study.spec(kind, lams=[0.0], seeds=study.seeds[:1], labels=study.labels[:1]),
                      cache_dir=cache_dir, workers=1, progress=False)
    run = pilot.runs[0]
    steps = max(int(run.steps), 1)
    seconds = float(run.time_s) if math.isfinite(run.time_s) else pilot.seconds
    per_step = seconds / steps
    config = study.config()
    n_workers = resolve_workers(workers, study.n_runs)
    together = not vectorization_blocker(config)
    if together:
        group = min(PILOT_GROUP, max(1, math.ceil(study.n_runs / len(study.labels) / n_workers)))
        datasets = [pairs.draw(seed) for seed in range(group)]
        started = time.perf_counter()
        fit_many(datasets, [1.0] * group, list(range(group)), config, num_steps=PILOT_STEPS, patience=0)
        per_step = (time.perf_counter() - started) / (group * PILOT_STEPS)
    total = (study.n_runs - 1) * steps * per_step / n_workers
    return TimeEstimate(total, study.n_runs, steps, seconds, 1000 * per_step, n_workers, together)


def run_study(pairs: UserPairs, study: Study, *, workers: int | str = "auto", backend: str = "local",
              address: str | None = None, cache_dir=None, progress: bool = True):
    """Train (or read from the cache) every run of `study` on `pairs`: `sweep.run_sweep` with its cache,
    resumption after an interruption, worker processes or a Ray cluster (`backend="ray"`, `address`).
    Returns the `SweepResult`."""
    kind = register(pairs)
    return run_sweep(study.spec(kind), cache_dir=cache_dir, workers=workers, backend=backend, address=address,
                     progress=progress)
