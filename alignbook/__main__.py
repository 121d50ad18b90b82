"""`python -m alignbook ...`: see `alignbook.cli`."""

from __future__ import annotations

from alignbook.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
