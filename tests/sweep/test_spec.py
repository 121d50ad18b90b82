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
