"""The paired-data container, splitting, standardisation, configuration and parameter checks."""

import pytest

from alignbook.config import TrainConfig


def test_config_round_trips_and_rejects_unknown_or_bad_fields():
    config = TrainConfig(num_epochs=3)
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.key() == TrainConfig(num_epochs=3).key() != TrainConfig().key()
    with pytest.raises(ValueError, match="num_epoch"):
        TrainConfig.from_dict({"num_epoch": 3})
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=-1.0)
    with pytest.raises(ValueError, match="encoder"):
        TrainConfig(encoder="cnn")


@pytest.mark.parametrize("field, value, match", [
    ("patience", -1, "patience: must be an integer >= 0"),
    ("patience", True, "patience: must be an integer >= 0"),
    ("patience", 1.5, "patience: must be an integer >= 0"),
    ("check_every", -2, "check_every: must be an integer >= 0"),
    ("check_every", False, "check_every: must be an integer >= 0"),
    ("weight_decay", float("nan"), "weight_decay: must be a finite number >= 0"),
    ("weight_decay", float("inf"), "weight_decay: must be a finite number >= 0"),
    ("weight_decay", True, "weight_decay: must be a finite number >= 0"),
    ("lr", True, "lr: must be a finite number > 0"),
    ("temperature", True, "temperature: must be a finite number > 0"),
    ("learn_temperature", "no", "learn_temperature: must be true or false"),
    ("learn_temperature", 1, "learn_temperature: must be true or false"),
    ("num_checkpoints", 10_001, "num_checkpoints: must be at most 10000"),
])
def test_config_refuses_bad_values_naming_the_field(field, value, match):
    with pytest.raises(ValueError, match=f"^{match}"):
        TrainConfig(**{field: value})


def test_config_bounds_and_early_stopping_fields():
    from alignbook.config import MAX_CHECKPOINTS

    config = TrainConfig(patience=3, check_every=5, num_checkpoints=0, weight_decay=0, lr=1)
    assert (config.patience, config.check_every) == (3, 5)
    assert TrainConfig(num_checkpoints=MAX_CHECKPOINTS).num_checkpoints == MAX_CHECKPOINTS
    assert TrainConfig().patience == 0 and TrainConfig().check_every == 0  # the whole budget, as before
    with pytest.raises(ValueError, match="^check_every: cannot be combined with num_checkpoints = 4"):
        TrainConfig(check_every=5, num_checkpoints=4)
    assert TrainConfig.from_dict(config.to_dict()) == config
