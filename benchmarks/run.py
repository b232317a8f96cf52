"""Run the benchmarks and write docs/benchmarks.md: ``python benchmarks/run.py [--smoke]``.

Options: ``--runs N``, ``--only figure1,figure3`` (or ``pipeline``, ``abuse``), ``--output PATH``,
``--json PATH``, ``--no-litellm``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._main import main

if __name__ == "__main__":
    sys.exit(main())
