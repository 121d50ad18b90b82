"""The package keeps the public names of the module it replaced, each defined in the module of its
subject."""

from __future__ import annotations

import alignbook.plotting as plotting

# the public names of alignbook.plotting before it became a package, and where each lives now
HOMES = {
    "house": ["OKABE_ITO", "encoder_colors", "encoder_labels", "JOINT_COLOR", "metric_colors",
              "metric_labels", "pid_colors", "LAM_LABEL", "FIG_WIDTH", "WIDE_WIDTH", "ROW_HEIGHT",
              "GRID_ROW_HEIGHT", "STYLE", "style"],
    "curves": ["lam_curve_limits", "plot_lam_curves", "plot_alignment_curves"],
    "representations": ["HISTORY_KEYS", "plot_learning_curves", "pca_2d", "plot_embedding_2d",
                        "plot_representations", "ROLE_COLORS", "plot_probes"],
    "maps": ["GAIN_CMAP", "plot_regime_map", "plot_gain_vs_gap"],
    "information": ["INFO_COLUMNS", "plot_info_table", "plot_pid", "plot_samples", "estimator_colors",
                    "plot_estimator_errors"],
    "lam_star": ["KIND_MARKERS", "plot_lam_star_vs_redundancy", "plot_search_trace"],
}


def test_every_public_name_is_exported_from_the_module_of_its_subject():
    assert sorted(plotting.__all__) == sorted(name for names in HOMES.values() for name in names)
    for home, names in HOMES.items():
        module = getattr(plotting, home)
        for name in names:
            assert getattr(plotting, name) is getattr(module, name), name
            if callable(getattr(plotting, name)):
                assert getattr(plotting, name).__module__ == f"alignbook.plotting.{home}", name
