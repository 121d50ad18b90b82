"""Helpers the book's notebooks share with nothing else."""

from __future__ import annotations

from alignbook.checks import fail


def glue(name: str, value, display: bool = False) -> None:
    """Glue `value` for use in the prose as {glue:text}`name`, numpy scalars as plain Python numbers.

    myst-nb formats glued numbers from their text form, and under numpy 2 a numpy scalar prints as
    `np.float64(0.5)`, which no format spec such as `:.3f` can read.
    """
    from myst_nb import glue as myst_glue  # only the notebooks need myst-nb

    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()
    myst_glue(name, value, display=display)


def direction(change: float, words: tuple[str, str, str] = ("rises", "falls", "stays the same"),
              tolerance: float = 0.0) -> str:
    """The word the prose uses for a computed `change`: `words[0]` above `tolerance`, `words[1]` below
    `-tolerance`, `words[2]` in between (pairs such as ("higher", "lower", "equal") or ("above", "below",
    "at")), so that no direction in a chapter is typed by hand."""
    if change != change:
        fail("change", "is NaN, which has no direction", "compare two numbers that both exist")
    return words[0] if change > tolerance else words[1] if change < -tolerance else words[2]


def with_interval(value: float, low: float, high: float, digits: int = 4) -> str:
    """A value and its interval as one short cell, `0.0071 [0.0021, 0.0101]`; `–` for a missing interval."""
    def number(x):
        return "–" if x is None or x != x else f"{x:.{digits}f}"

    return number(value) if low != low or high != high else f"{number(value)} [{number(low)}, {number(high)}]"


def interval_columns(frame, columns: dict, digits: int = 4):
    """`frame` with each `name: (value, low, high)` of `columns` formatted by `with_interval` into one
    column `name` (the three source columns dropped), so tables of estimates fit the page's column."""
    shown = frame.copy()
    for name, (value, low, high) in columns.items():
        shown[name] = [with_interval(v, lo, hi, digits)
                       for v, lo, hi in zip(frame[value], frame[low], frame[high], strict=True)]
    dropped = {c for triple in columns.values() for c in triple} - set(columns)
    return shown.drop(columns=sorted(dropped & set(shown.columns)))


def glue_all(values: dict) -> None:
    """Glue every `name: value` of a mapping for the prose (see `glue`)."""
    for name, value in values.items():
        glue(name, value)
