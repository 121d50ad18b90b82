"""Helpers the book's notebooks share with nothing else."""

from __future__ import annotations


def glue(name: str, value, display: bool = False) -> None:
    """Glue `value` for use in the prose as {glue:text}`name`, numpy scalars as plain Python numbers.

    myst-nb formats glued numbers from their text form, and under numpy 2 a numpy scalar prints as
    `np.float64(0.5)`, which no format spec such as `:.3f` can read.
    """
    from myst_nb import glue as myst_glue  # only the notebooks need myst-nb

    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()
    myst_glue(name, value, display=display)
