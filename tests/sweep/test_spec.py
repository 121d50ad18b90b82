"""Fault injection: whatever goes wrong, nothing wrong is served and nothing is left behind.

Each test plants a fault that a person, a machine or a second process can cause and checks what the package
does about it: a tampered, garbled or foreign cache entry is caught with a warning naming it and recomputed;
a killed sweep leaves no process behind and the next sweep takes over its runs; a full or read-only disk,
an empty environment variable, a duplicated YAML key and a bad notebook parameter give a one-line error
that names the culprit before any training; overflowing data give a clear error instead of silent zeros;
the PID solver finishes on dense joints and its advice, when it does not, works; two sweeps on one cache
never train the same run twice. Trainers are the counting stand-ins of `test_sweep` unless the fault is in
the training processes themselves (`fault_sweep.py`).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import change_one_byte

from alignbook.sweep import SweepSpec

ROOT = Path(__file__).resolve().parents[2]



def test_garbled_spec_files_give_a_one_line_error_naming_the_culprit(tmp_path):
    text = (ROOT / "configs" / "synthetic_smoke.yaml").read_bytes()
    rng = np.random.default_rng(5)
    path = tmp_path / "spec.yaml"
    for _ in range(40):
        path.write_bytes(change_one_byte(text, rng))
        try:
            SweepSpec.from_yaml(path)
        except ValueError as error:  # a field, a key or the file, then the problem; no other exception
            assert type(error) is ValueError and "\n" not in str(error), repr(error)
            assert re.match(r"^[^:]+: ", str(error)), str(error)


def test_duplicate_yaml_keys_are_errors(tmp_path):
    cases = {"lams": "name: twice\nlams: [0.0]\nseeds: [0]\nlams: [1.0]\n",
             "train.lr": "name: twice\nlams: [0.0]\nseeds: [0]\ntrain:\n  lr: 0.1\n  lr: 0.01\n"}
    for key, text in cases.items():
        (tmp_path / "spec.yaml").write_text(text)
        with pytest.raises(ValueError, match=r"duplicate") as error:
            SweepSpec.from_yaml(tmp_path / "spec.yaml")
        assert repr(key.split(".")[-1]) in str(error.value) and "line" in str(error.value)


def _nested_aliases(levels: int = 9) -> str:
    """A spec whose YAML aliases would expand ninefold per level (a 'billion laughs' of 500 bytes)."""
    lines = ["name: laughs", "lams: [0.0]", "seeds: [0]", 'a0: &a0 ["lol"]']
    for level in range(1, levels + 1):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 9)}]")
    return "\n".join(lines) + "\n"


def test_yaml_anchors_and_aliases_are_refused_before_they_expand(tmp_path):
    import tracemalloc

    path = tmp_path / "laughs.yaml"
    path.write_text(_nested_aliases())
    assert len(path.read_bytes()) < 600
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"^spec: .*laughs.yaml.*line 4.*anchors and aliases") as error:
            SweepSpec.from_yaml(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "\n" not in str(error.value) and peak < 5 * 2**20  # refused on reading, nothing expanded
    path.write_text("name: merge\nbase: &b {lr: 0.1}\nlams: [0.0]\nseeds: [0]\ntrain:\n  <<: *b\n")
    with pytest.raises(ValueError, match=r"^spec: .*line 2.*anchors and aliases"):
        SweepSpec.from_yaml(path)


@pytest.mark.parametrize("name", ["x" * 101, "x" * 240, "run\n", "run\r", "ru\tn", "run\x00", "run\x1b[2J",
                                  "../run", "", " run"])
def test_sweep_names_that_cannot_be_a_file_name_are_refused(name, tmp_path):
    from alignbook.sweep.spec import MAX_NAME_LENGTH

    assert MAX_NAME_LENGTH == 100
    with pytest.raises(ValueError, match="^name: ") as error:
        SweepSpec.from_dict({"name": name, "lams": [0.0], "seeds": [0]})
    assert "\n" not in str(error.value)
    if len(name) > MAX_NAME_LENGTH:
        assert f"at most {MAX_NAME_LENGTH} characters" in str(error.value)
    path = tmp_path / "spec.yaml"
    path.write_text(f"name: {json.dumps(name)}\nlams: [0.0]\nseeds: [0]\n")
    with pytest.raises(ValueError, match="^name: "):
        SweepSpec.from_yaml(path)
    longest = SweepSpec.from_dict({"name": "x" * MAX_NAME_LENGTH, "lams": [0.0], "seeds": [0]})
    (tmp_path / f"{longest.name}.yaml.tmp-0123456789abcdef").write_text(longest.to_yaml())  # fits a file name


def test_negative_zero_is_the_same_lam():
    with pytest.raises(ValueError, match=r"^lams: contains 0\.0 more than once"):
        SweepSpec.from_dict({"name": "zeros", "lams": [0.0, -0.0], "seeds": [0]})
    with pytest.raises(ValueError, match=r"^dataset_grid\.noise: contains 0\.0 more than once"):
        SweepSpec.from_dict({"name": "zeros", "lams": [0.0], "seeds": [0],
                             "dataset": {"kind": "synthetic"}, "dataset_grid": {"noise": [0.0, -0.0]}})
    spec = SweepSpec.from_dict({"name": "zero", "lams": [-0.0], "seeds": [0]})
    assert math.copysign(1, spec.lams[0]) == 1 and spec.to_yaml() == SweepSpec.from_dict(
        {"name": "zero", "lams": [0.0], "seeds": [0]}).to_yaml()


def test_data_seed_is_one_draw_or_each_runs_seed():
    base = {"name": "draws", "lams": [0.0], "seeds": [3, 7], "dataset": {"kind": "synthetic"}}
    fixed = SweepSpec.from_dict({**base, "data_seed": 5})
    assert [fixed.data_seed_for(s) for s in fixed.seeds] == [5, 5]
    assert SweepSpec.from_dict(base).data_seed_for(7) == 0  # the default: one draw, seed 0
    per_run = SweepSpec.from_dict({**base, "data_seed": "seed"})
    assert per_run.data_seed == "seed" and [per_run.data_seed_for(s) for s in per_run.seeds] == [3, 7]
    assert SweepSpec.from_dict(per_run.to_dict()) == per_run
    assert "data_seed: seed" in per_run.to_yaml()
    for bad in ("run", "Seed", -1, 1.5, True, None):
        with pytest.raises(ValueError, match="^data_seed: "):
            SweepSpec.from_dict({**base, "data_seed": bad})
    with pytest.raises(ValueError, match="^seed: "):
        per_run.data_seed_for(-1)


def test_a_dataset_kind_ending_in_a_newline_is_refused():
    from alignbook.data import register_dataset

    with pytest.raises(ValueError, match="^kind: "):
        register_dataset("mine\n", lambda: None)
