"""Deprecated alias of `alignbook.chapters.analysis` (this old path warns: import the new one)."""

from alignbook.compat import alias

alias(__name__)
