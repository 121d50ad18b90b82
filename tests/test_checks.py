"""The paired-data container, splitting, standardisation, configuration and parameter checks."""

import pytest

from alignbook.checks import check_parameters


@pytest.mark.parametrize(
    ("values", "name"),
    [({"lam": -1}, "lam"), ({"redundancy": 11}, "redundancy"), ({"lams": [0.0, -0.5]}, "lams"),
     ({"seeds": []}, "seeds"), ({"num_epochs": 0}, "num_epochs"), ({"lr": 0.0}, "lr")],
)
def test_notebook_parameters_are_checked_by_name(values, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        check_parameters(**values)


def test_valid_notebook_parameters_pass():
    check_parameters(lam=0.0, redundancy=8, lams=[0, 0.5, 4], seeds=[0, 1], depth=1, lr=1e-3, other="x")
