"""Deprecated alias of `alignbook.training.single` (this old path warns: import the new one)."""

from alignbook.compat import alias

alias(__name__)
