"""Every figure of the book, in one house style, drawn from tables and arrays.

`house` holds the house style (colours, sizes, `style()`, the panel and legend helpers) and `tables` the
checks and lookups of the tables figures are drawn from; the figures are grouped by subject: `curves`
(accuracy and alignment against `lam`, used by several chapters), `representations` (learning curves,
projections of representations, probes), `maps` (regime maps, gain against the Bayes gap), `information`
(samples, information quantities, the PID and its estimators) and `lam_star` (`lam*` against redundancy,
the automatic search). Their public names are re-exported here, so `plotting.plot_lam_curves(...)` works.

Importing the package changes nothing: the style is applied only inside `style()`, which every figure
function enters while it builds its figure, and the matplotlib backend is never touched. Every figure
function returns the `Figure` it drew on.
"""

from alignbook.plotting.curves import lam_curve_limits, plot_alignment_curves, plot_lam_curves
from alignbook.plotting.house import (
    FIG_WIDTH,
    GRID_ROW_HEIGHT,
    JOINT_COLOR,
    LAM_LABEL,
    OKABE_ITO,
    ROW_HEIGHT,
    STYLE,
    WIDE_WIDTH,
    encoder_colors,
    encoder_labels,
    metric_colors,
    metric_labels,
    pid_colors,
    style,
)
from alignbook.plotting.information import (
    INFO_COLUMNS,
    estimator_colors,
    plot_estimator_errors,
    plot_info_table,
    plot_pid,
    plot_samples,
)
from alignbook.plotting.lam_star import KIND_MARKERS, plot_lam_star_vs_redundancy, plot_search_trace
from alignbook.plotting.maps import GAIN_CMAP, plot_gain_vs_gap, plot_regime_map
from alignbook.plotting.representations import (
    HISTORY_KEYS,
    ROLE_COLORS,
    pca_2d,
    plot_embedding_2d,
    plot_learning_curves,
    plot_probes,
    plot_representations,
)

__all__ = [
    "FIG_WIDTH", "GAIN_CMAP", "GRID_ROW_HEIGHT", "HISTORY_KEYS", "INFO_COLUMNS", "JOINT_COLOR",
    "KIND_MARKERS", "LAM_LABEL", "OKABE_ITO", "ROLE_COLORS", "ROW_HEIGHT", "STYLE", "WIDE_WIDTH",
    "encoder_colors", "encoder_labels", "estimator_colors", "lam_curve_limits", "metric_colors",
    "metric_labels", "pca_2d", "pid_colors", "plot_alignment_curves", "plot_embedding_2d",
    "plot_estimator_errors", "plot_gain_vs_gap", "plot_info_table", "plot_lam_curves",
    "plot_lam_star_vs_redundancy", "plot_learning_curves", "plot_pid", "plot_probes", "plot_regime_map",
    "plot_representations", "plot_samples", "plot_search_trace", "style",
]
