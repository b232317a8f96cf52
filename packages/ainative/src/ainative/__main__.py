"""``python -m ainative``: the ``ainative`` command."""

from __future__ import annotations

from ainative_core._cli import main

if __name__ == "__main__":
    main()
