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
