"""The protocol file: every claim of the book with its estimand, direction, margin, alpha and family."""

from __future__ import annotations

import copy
import math

import pytest
import yaml

from alignbook.analysis import plan
from alignbook.chapters import real_data, regime_map, synthetic_sweep

PROTOCOL = plan.load_protocol()
RAW = yaml.safe_load(plan.PROTOCOL_FILE.read_text(encoding="utf-8"))


def test_every_claim_of_the_book_is_in_the_file_with_its_chapters():
    by_chapter = {chapter: [spec.key for spec in PROTOCOL.for_chapter(chapter)]
                  for chapter in ("03_synthetic_sweep", "04_regime_map", "05_real_data", "06_analysis")}
    assert by_chapter["03_synthetic_sweep"] == by_chapter["04_regime_map"] == list(regime_map.CLAIM_KEYS)
    assert [key for key, _ in real_data.PAPER_REAL_CLAIMS] == by_chapter["05_real_data"][:4]
    assert set(by_chapter["05_real_data"][4:]) == {"shared_gain", "unique_loss", "sharing_trend",
                                                   "align_real", "weak_gain", "weak_shrink"}
    assert len(by_chapter["06_analysis"]) == 8  # choosing_lam.analysis_claims with both extra features
    wordings = {spec.wording for spec in PROTOCOL.claims.values()}
    for text in (synthetic_sweep.ALIGNMENT_CLAIM, real_data.SHARING_GAIN_CLAIM, real_data.WEAK_GAIN_CLAIM,
                 real_data.WEAK_SHRINK_CLAIM, "lam* rises with redundancy", "lam* needs a grid search",
                 "redundancy can be estimated from samples (raw inputs)"):
        assert text in wordings


def test_the_file_states_margins_seeds_and_defaults():
    assert (PROTOCOL.alpha, PROTOCOL.correction, PROTOCOL.ci, PROTOCOL.power) == (0.05, "holm", 0.95, 0.8)
    assert PROTOCOL.margins["synthetic_accuracy"].value == 0.005
    assert all(len(margin.why) > 80 for margin in PROTOCOL.margins.values())
    assert all(entry["seeds"] >= 3 and len(entry["why"]) > 80 for entry in PROTOCOL.seeds)
    rises = PROTOCOL.claim("rises")
    assert (rises.direction, rises.margin, rises.alpha, rises.correction) == ("rise", 0.005, 0.05, "holm")
    assert PROTOCOL.claim("invu").lam_range == (0.4, 0.6)
    assert PROTOCOL.claim("mosei_text").lam_range == (0.5, 1.0)
    assert math.isnan(PROTOCOL.claim("align").margin) and PROTOCOL.claim("sharing_trend").correction == "none"
    with pytest.raises(ValueError, match="^key: no claim 'nope'"):
        PROTOCOL.claim("nope")


def broken(change) -> dict:
    data = copy.deepcopy(RAW)
    change(data)
    return data


@pytest.mark.parametrize("change, message", [
    (lambda d: d["claims"][0].pop("estimand"), "claim 'rises': missing field"),
    (lambda d: d["claims"][0].update(direction="up"), "direction must be one of"),
    (lambda d: d["claims"][0].update(margin="tiny"), "margin 'tiny' is not defined"),
    (lambda d: d["claims"][1].update(key="rises"), "the key is used twice"),
    (lambda d: d["claims"][0]["family"].pop("04_regime_map"), "family must describe"),
    (lambda d: d["claims"][0].update(alpha=5), "alpha must be a number strictly between 0 and 1"),
    (lambda d: d["claims"][2].update(lam_range=[0.6, 0.4]), "lam_range must be"),
    (lambda d: d["seeds"][0].update(seeds=2), "seeds must be an integer >= 3"),
    (lambda d: d["margins"]["synthetic_accuracy"].update(value=-1), "value must be a number > 0"),
    (lambda d: d.pop("alpha"), "missing top-level field 'alpha'"),
    (lambda d: d.update(correction="bonferroni"), "correction must be one of"),
])
def test_a_broken_protocol_is_refused_with_the_entry_named(change, message):
    with pytest.raises(ValueError, match=f"^protocol: .*{message}"):
        plan.parse_protocol(broken(change))


def test_load_protocol_reads_a_given_file(tmp_path):
    path = tmp_path / "protocol.yaml"
    path.write_text(yaml.safe_dump(broken(lambda d: d.update(alpha=0.01))), encoding="utf-8")
    other = plan.load_protocol(path)
    assert other.alpha == 0.01 and other.claim("align").alpha == 0.01
    assert other.claim("sharing_trend").correction == "none"
    with pytest.raises(ValueError, match="^path: no protocol file"):
        plan.load_protocol(tmp_path / "missing.yaml")
