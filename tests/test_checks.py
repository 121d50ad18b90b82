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


@pytest.mark.parametrize("n_samples", [5, 20, 25])
def test_n_samples_below_what_the_generator_splits_is_refused_in_the_first_cell(n_samples):
    from alignbook.checks import MIN_SYNTHETIC_SAMPLES
    from alignbook.data import synthetic

    with pytest.raises(ValueError, match=f"^n_samples: must be in {MIN_SYNTHETIC_SAMPLES}\\.\\."):
        check_parameters(n_samples=n_samples)
    with pytest.raises(ValueError, match=f"^n_samples: must be in {MIN_SYNTHETIC_SAMPLES}\\.\\."):
        synthetic.make_dataset(0, n_samples=n_samples)
    check_parameters(n_samples=MIN_SYNTHETIC_SAMPLES)
    assert len(synthetic.make_dataset(0, n_samples=MIN_SYNTHETIC_SAMPLES).test) >= synthetic.NUM_CLASSES


@pytest.mark.parametrize(("name", "values"), [
    ("seeds", [0, 1, 0]), ("full_seeds", "[2, 2]"), ("lams", [0.0, 0.5, -0.0]), ("real_lams", [1, 1.0]),
    ("redundancies", [4, 4]), ("depths", [1, 1]),
])
def test_a_list_parameter_holding_a_value_twice_is_refused_in_the_first_cell(name, values):
    with pytest.raises(ValueError, match=f"^{name}: contains .* more than once"):
        check_parameters(**{name: values})

