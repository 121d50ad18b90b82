"""The paired-data container, splitting, standardisation, configuration and parameter checks."""

from dataclasses import dataclass

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



def test_name_pairs_are_distinct_pairs_of_different_known_names():
    from alignbook.checks import check_name_pair, check_name_pairs

    known = ("fac", "kar", "pix", "fou")
    pairs = check_name_pairs("mfeat_pairs", [["fac", "kar"], ("pix", "fou")], known)
    assert pairs == [("fac", "kar"), ("pix", "fou")]
    assert check_name_pairs("mfeat_pairs", "[['fac', 'kar']]", known) == [("fac", "kar")]  # papermill's text
    for bad in ("fac", [], [["fac"]], [["fac", "fac"]], [["fac", "xyz"]], [["fac", "kar"], ["fac", "kar"]],
                ["fackar"], [[1, 2]]):
        with pytest.raises(ValueError, match="^mfeat_pairs: "):
            check_name_pairs("mfeat_pairs", bad, known)
    assert check_name_pair("m", ["vision", "text"], ("vision", "audio", "text")) == ("vision", "text")
    assert check_name_pair("m", "['vision', 'text']", ("vision", "text")) == ("vision", "text")
    for bad in ("vision", ["vision"], ["vision", "vision"], ["vision", "smell"], ["a", "b", "c"]):
        with pytest.raises(ValueError, match="^m: "):
            check_name_pair("m", bad, ("vision", "audio", "text"))


def test_optional_paths_name_what_is_wrong(tmp_path):
    from alignbook.checks import check_optional_path

    assert check_optional_path("p", "", "file") == ""
    assert check_optional_path("p", __file__, "file") == __file__
    assert check_optional_path("p", str(tmp_path), "folder") == str(tmp_path)
    with pytest.raises(ValueError, match="^p: .*does not exist"):
        check_optional_path("p", str(tmp_path / "no_such_file.pkl"), "file")
    with pytest.raises(ValueError, match="^p: .*is a folder, not a file"):
        check_optional_path("p", str(tmp_path), "file")
    with pytest.raises(ValueError, match="^p: .*is a file, not a folder"):
        check_optional_path("p", __file__, "folder")
    with pytest.raises(ValueError, match="^p: "):
        check_optional_path("p", None, "file")
    with pytest.raises(ValueError, match="^kind: "):
        check_optional_path("p", "", "link")


def test_fractions_shares_and_lists():
    from alignbook.checks import check_choice, check_fraction, check_list, check_positive, check_shares

    assert check_fraction("t", 0) == 0.0 and check_fraction("t", 1) == 1.0
    for bad, zero in ((1.5, True), (-0.1, True), (True, True), ("0.5", True), (0, False),
                      (float("nan"), True)):
        with pytest.raises(ValueError, match="^t: "):
            check_fraction("t", bad, zero=zero)
    assert check_shares("label_fractions", [0.05, 1]) == [0.05, 1.0]
    assert check_shares("label_fractions", "[0.05, 0.2, 1.0]") == [0.05, 0.2, 1.0]
    for bad in ([], [0, 1], [1.5], [True, 1.0], [0.5, 0.05, 1.0], [0.05, 0.05, 1.0], [0.05, 0.5], "x"):
        with pytest.raises(ValueError, match="^label_fractions: "):
            check_shares("label_fractions", bad)
    assert check_list("sizes", "[300, 1000]", lambda p, v: v) == [300, 1000]
    with pytest.raises(ValueError, match=r"^sizes: must be increasing"):
        check_list("sizes", [1000, 300], lambda p, v: v, increasing=True)
    with pytest.raises(ValueError, match=r"^heads: must be one of \['mlp', 'none'\], got 'deep'"):
        check_list("heads", ["mlp", "deep"], lambda p, v: check_choice(p, v, ("mlp", "none")))
    assert check_positive("lr", 1e-3) == 1e-3 and check_positive("t", 10, high=10) == 10.0
    for bad in (0, -1.0, float("inf"), True, "1"):
        with pytest.raises(ValueError, match="^lr: "):
            check_positive("lr", bad)
    with pytest.raises(ValueError, match=r"^t: must be a number in \(0, 10\]"):
        check_positive("t", 10.5, high=10)


def test_chapter_06s_validation_lists_refuse_a_value_twice_and_sizes_the_generator_cannot_split():
    from alignbook.chapters import pid_validation

    assert pid_validation.validation_cells("[500]", [1], [0, 8], [8]) == [(500, 1, 0, 0), (500, 1, 8, 0)]
    for args, param in ((([500, 500], [1], [0], [0]), "validation_sizes"),
                        (([500], [1, 1], [0], [0]), "validation_depths"),
                        (([500], [1], [0], [8, 8]), "largest_size_redundancies")):
        with pytest.raises(ValueError, match=f"^{param}: contains .* more than once"):
            pid_validation.validation_cells(*args)
    with pytest.raises(ValueError, match="^validation_sizes: must be in 26\\.\\."):
        pid_validation.validation_cells([20], [1], [0], [0])


def test_a_chapters_parameters_are_one_checked_immutable_object():
    import dataclasses

    from alignbook.checks import NotebookParameters

    @dataclass(frozen=True)
    class Parameters(NotebookParameters):
        lams: list
        seeds: list
        mechanism_size: int

        def check(self):
            if self.mechanism_size > 10:
                raise ValueError("mechanism_size: must be at most 10")

    namespace = {"lams": "[0.0, 1.0]", "seeds": [0, 1], "mechanism_size": 3, "other": object()}
    p = Parameters.from_namespace(namespace)
    assert p.lams == [0.0, 1.0] and p.seeds == [0, 1]  # papermill's text read back as a list
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.lams = [2.0]
    with pytest.raises(ValueError, match="^lams: "):
        Parameters.from_namespace({**namespace, "lams": [-1.0]})
    with pytest.raises(ValueError, match="^seeds: "):
        Parameters.from_namespace({**namespace, "seeds": [0, 0]})
    with pytest.raises(ValueError, match="^mechanism_size: must be at most 10"):
        Parameters.from_namespace({**namespace, "mechanism_size": 11})
    with pytest.raises(ValueError, match="^mechanism_size: is missing from the parameters cell"):
        Parameters.from_namespace({"lams": [0.0], "seeds": [0]})
