"""Code dependencies from the import graph: what a cached computation's key covers, and what it leaves out."""

from __future__ import annotations

import json
import subprocess
import sys

from alignbook.storage import deps

# Records, in a fresh process, every source file of the package in which a function runs while a tiny sweep
# trains and measures runs with both trainers.
TRACE = """
import json, sys, numpy as np
from alignbook.config import TrainConfig
from alignbook.data.container import PairedDataset, PairedSplit
root = sys.argv[1]
def split(n, seed):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    return PairedSplit(rng.normal(size=(n, 3)).astype(np.float32) + y[:, None],
                       rng.normal(size=(n, 2)).astype(np.float32), y)
data = PairedDataset(split(64, 0), split(16, 1), split(16, 2), num_classes=2)
config = TrainConfig(width=4, depth=1, repr_dim=4, proj_dim=4, num_steps=3, batch_size=16)
import alignbook.training.single, alignbook.training.vectorized
called = set()
def profile(frame, event, arg):
    if event == "call" and frame.f_code.co_filename.startswith(root):
        called.add(frame.f_code.co_filename)
sys.setprofile(profile)
alignbook.training.vectorized.fit_many(data, [0.0, 1.0], [0, 1], config)
alignbook.training.single.fit(data, lam=1.0, seed=0, config=config)
sys.setprofile(None)
print(json.dumps(sorted(called)))
"""


def test_the_trainers_key_covers_every_module_a_run_executes():
    out = subprocess.run([sys.executable, "-c", TRACE, str(deps.PACKAGE_ROOT)], capture_output=True,
                         text=True, check=True).stdout
    executed = {deps.PACKAGE_ROOT.joinpath(p).resolve() for p in json.loads(out)}
    covered = set(deps.dependencies("alignbook.training.vectorized", "alignbook.training.single"))
    package_inits = {p for p in executed if p.name == "__init__.py"}  # re-exports only
    assert executed - package_inits <= covered, sorted(map(str, executed - covered))


def test_imports_made_for_other_jobs_do_not_widen_a_key():
    trainers = deps.relative_names(deps.dependencies("alignbook.training.vectorized",
                                                     "alignbook.training.single"))
    assert "training/single.py" in trainers and "models/alignment.py" in trainers
    for elsewhere in ("metrics", "analysis/", "sweep/", "chapters/", "info/", "plotting", "storage/"):
        assert not any(name.startswith(elsewhere) for name in trainers), (elsewhere, trainers)
    generator = deps.relative_names(deps.dependencies("alignbook.data.synthetic"))
    assert "info/exact.py" in generator  # the generator's exact PID
    assert "info/estimate.py" not in generator and "info/learned.py" not in generator
    measurement = deps.relative_names(deps.dependencies("alignbook.sweep.measure"))
    assert any(name.startswith("metrics") for name in measurement)


def test_the_code_hash_follows_the_sources(tmp_path, monkeypatch):
    package = tmp_path / "alignbook"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from alignbook.sub.b import thing\n")
    (package / "sub" / "a.py").write_text("from alignbook.sub import thing\n\n\ndef f():\n"
                                          "    import alignbook.c\n")
    (package / "sub" / "b.py").write_text("thing = 1\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
                                  "    import alignbook.d\n")
    (package / "d.py").write_text("")

    monkeypatch.setattr(deps, "PACKAGE_ROOT", package)
    deps.forget()
    try:
        # the re-exported name reaches its defining module, the lazy import counts, TYPE_CHECKING does not
        assert deps.relative_names(deps.dependencies("alignbook.sub.a")) == ["c.py", "sub/a.py", "sub/b.py"]
        before = deps.code_hash("alignbook.sub.a")
        (package / "d.py").write_text("x = 1\n")
        deps.forget()
        assert deps.code_hash("alignbook.sub.a") == before
        (package / "sub" / "b.py").write_text("thing = 2\n")
        deps.forget()
        assert deps.code_hash("alignbook.sub.a") != before
    finally:
        monkeypatch.undo()
        deps.forget()
