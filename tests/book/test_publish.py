"""What chapters emit for the book: claims, tables for download and their runs' configurations."""

from __future__ import annotations

import pandas as pd
import pytest

from alignbook.chapters import publish


def claim_table(verdicts=("confirmed", "contradicted")) -> pd.DataFrame:
    return pd.DataFrame({"claim": [f"claim {i}" for i in range(len(verdicts))], "source": ["[S]", "ours"][
        : len(verdicts)], "agree": [2, 0][: len(verdicts)], "cases": [2, 3][: len(verdicts)],
        "verdict": list(verdicts)}).set_index("claim")


def test_claim_records_carry_verdicts_regimes_and_counts():
    table = claim_table()
    regimes = {"d = 1": claim_table(("confirmed", "not confirmed")), "d = 3": claim_table(("confirmed",
                                                                                             "contradicted"))}
    records = publish.claim_records(table, {"claim 0": "fig-a", "claim 1": "sec-b"}, regimes)
    assert records[0] == {"claim": "claim 0", "source": "[S]", "verdict": "confirmed", "decided_by": "fig-a",
                          "regimes": {"d = 1": "confirmed", "d = 3": "confirmed"}, "cases": [2, 2]}
    assert records[1]["regimes"] == {"d = 1": "not confirmed", "d = 3": "contradicted"}
    assert records[1]["decided_by"] == "sec-b"


def test_claim_records_name_what_is_wrong():
    with pytest.raises(ValueError, match="decided_by"):
        publish.claim_records(claim_table(), {"claim 0": "fig-a"})
    with pytest.raises(ValueError, match="regimes"):
        publish.claim_records(claim_table(), "fig-a", {"r": claim_table(("confirmed",))})
    with pytest.raises(ValueError, match="verdicts must be among"):
        publish.claim_records(claim_table(("confirmed", "probably")), "fig-a")


def test_table_record_needs_a_meaning_for_every_column():
    frame = pd.DataFrame({"lam": [0.0, 1.0], "acc": [0.5, 0.625], "odd": [1, 2]}).set_index("lam")
    with pytest.raises(ValueError, match=r"columns: give a meaning for the column\(s\) \['odd'\]"):
        publish.table_record(frame, "runs", "one row per run")
    record = publish.table_record(frame, "runs", "one row per run", {"odd": "an odd number"})
    assert record["csv"] == "lam,acc,odd\n0,0.5,1\n1,0.625,2\n"
    assert list(record["columns"]) == ["lam", "acc", "odd"]
    text = publish.table_markdown(record)
    assert text.startswith("{download}`runs.csv <data/runs.csv>`: one row per run (2 rows, 3 columns")
    assert "| `odd` | an odd number |" in text
    with pytest.raises(ValueError, match="name"):
        publish.table_record(frame, "Runs table", "x", {"odd": "y"})




def sweep_table(config_key: str, spec: str = "small") -> pd.DataFrame:
    """Two runs of a sweep table as `run_sweep` lays them out (the columns that locate a run)."""
    return pd.DataFrame({"spec": [spec] * 2, "dataset_kind": ["synthetic"] * 2, "dataset": ["r4"] * 2,
                         "redundancy": [4, 4], "lam": [0.0, 1.0], "seed": [0, 0], "acc": [0.5, 0.75],
                         "config": [config_key] * 2, "key": ["k0", "k1"]})


@pytest.fixture
def written_spec(tmp_path, monkeypatch):
    """A sweep spec written where `run_sweep` writes it (`results_dir()/<name>.yaml`)."""
    from alignbook.sweep import SweepSpec

    monkeypatch.setenv("ALIGNBOOK_RESULTS", str(tmp_path))
    spec = SweepSpec.from_dict({"name": "small", "dataset": {"kind": "synthetic", "n_samples": 1024},
                                "dataset_grid": {"redundancy": [4]}, "lams": [0.0, 1.0], "seeds": [0],
                                "train": {"num_epochs": 2, "width": 16}})
    (tmp_path / "small.yaml").write_text(spec.to_yaml())
    return spec


def test_a_table_of_sweep_runs_carries_every_run_configuration(written_spec):
    from alignbook.config import TrainConfig

    key = written_spec.config().key()
    record = publish.table_record(sweep_table(key), "small_runs", "one row per run")
    runs = record["runs"]
    assert runs["specs"] == {"small": written_spec.to_dict()}
    assert list(runs["configs"]) == [key]
    full = runs["configs"][key]
    assert TrainConfig.from_dict(full).key() == key and full["width"] == 16 and full["lr"] == TrainConfig().lr
    assert runs["datasets"] == {}
    text = publish.table_markdown(record)
    assert "{download}`small_runs.configs.json <data/small_runs.configs.json>`" in text
    # a table of anything else carries no configurations and offers no second file
    plain = publish.table_record(pd.DataFrame({"lam": [0.0], "acc": [0.5]}), "plain", "one row")
    assert "runs" not in plain and "configs.json" not in publish.table_markdown(plain)


def test_run_configurations_refuse_what_they_cannot_vouch_for(written_spec):
    key = written_spec.config().key()
    with pytest.raises(ValueError, match=r"^frame: rows of the sweep 'small' have the configurations"):
        publish.table_record(sweep_table("0" * 16), "small_runs", "one row per run")
    with pytest.raises(ValueError, match=r"^frame: names the sweep 'other', whose spec .* is missing"):
        publish.table_record(sweep_table(key, spec="other"), "other_runs", "one row per run")
    with pytest.raises(ValueError, match=r"^datasets: the recipe of 'r4' must be a mapping with a 'kind'"):
        publish.table_record(sweep_table(key), "small_runs", "one row", datasets={"r4": {"kind": "?"}})
    with pytest.raises(ValueError, match=r"^datasets: describes the data of sweep runs"):
        publish.table_record(pd.DataFrame({"acc": [0.5]}), "plain", "one row", datasets={"r4": {}})
    recipe = {"kind": "mfeat", "views": ["fou", "mor"], "seed": 0}
    record = publish.table_record(sweep_table(key), "small_runs", "one row per run", datasets={"r4": recipe})
    assert record["runs"]["datasets"] == {"r4": recipe}
