"""The picture of the goals: each measured ratio against its target, as an SVG.

``render_svg(points, path)`` draws it (matplotlib, Agg); the runner calls it with the goals
it measured. ``python -m benchmarks._plot [docs/benchmarks.md]`` draws it again from the
Goals table of a committed report, without running anything.
"""

from __future__ import annotations

import re
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ._results import Goal

__all__ = ["GoalPoint", "points_from_goals", "points_from_report", "render_svg"]

DEFAULT_REPORT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


@dataclass(frozen=True)
class GoalPoint:
    """One goal's median ratio, its min and max over the runs, and its target."""

    text: str
    median: float
    low: float
    high: float
    threshold: float
    direction: str  # "min": the ratio must reach the target; "max": stay under it

    def score(self, value: float) -> float:
        """How far ``value`` is past the target, > 1 on the good side, whatever the direction."""
        return value / self.threshold if self.direction == "min" else self.threshold / value

    @property
    def passed(self) -> bool:
        return self.score(self.median) >= 1


def points_from_goals(goals: Sequence[Goal]) -> list[GoalPoint]:
    """The measured goals of a run."""
    return [
        GoalPoint(
            goal.text,
            statistics.median(goal.ratios),
            min(goal.ratios),
            max(goal.ratios),
            goal.threshold,
            goal.direction,
        )
        for goal in goals
        if goal.ratios
    ]


_ROW = re.compile(
    r"^\| (?P<text>[^|]+) \| [^|]*: (?P<median>[\d.]+)"
    r"(?: \((?P<low>[\d.]+)\u2013(?P<high>[\d.]+)\))? "
    r"\| (?P<cmp>[≥≤]) (?P<threshold>[\d.]+) \|",
    re.M,
)


def points_from_report(text: str) -> list[GoalPoint]:
    """The goals of a report's Goals table (``| goal | ratio: median (low-high) | ≥ t |``)."""
    points = []
    for row in _ROW.finditer(text):
        median = float(row["median"])
        points.append(
            GoalPoint(
                row["text"].strip(),
                median,
                float(row["low"] or median),
                float(row["high"] or median),
                float(row["threshold"]),
                "min" if row["cmp"] == "≥" else "max",
            )
        )
    return points


def render_svg(points: Sequence[GoalPoint], path: Path) -> None:
    """Draw every goal as a bar from the target (1 = on target; right of it = met)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "ainative-benchmarks"  # stable ids: stable diffs
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text
    height = 0.32 * len(points) + 1.2
    fig, ax = plt.subplots(figsize=(10, height))
    rows = list(range(len(points)))[::-1]
    for y, point in zip(rows, points, strict=True):
        score = point.score(point.median)
        ends = sorted((point.score(point.low), point.score(point.high)))
        color = "#2e7d32" if point.passed else "#c62828"
        ax.barh(y, score - 1, left=1, height=0.6, color=color, alpha=0.8)
        ax.plot(ends, [y, y], color="#333333", linewidth=1)
        ax.text(score, y, f" {point.median:g}", va="center", fontsize=7, color="#333333")
    ax.axvline(1, color="#333333", linewidth=1)
    ax.set_xscale("log")
    ax.set_yticks(rows, [p.text for p in points], fontsize=8)
    ax.set_xlabel(
        "ratio ÷ target, log scale (right of 1: met); line: min-max over the runs; "
        "number: median ratio",
        fontsize=8,
    )
    ax.set_title("Goals: ainative's ratios to its peers and targets", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)


def main(argv: list[str]) -> int:
    report = Path(argv[0]) if argv else DEFAULT_REPORT
    points = points_from_report(report.read_text())
    if not points:
        print(f"no goals found in {report}")
        return 1
    target = report.parent / "images" / "benchmarks.svg"
    render_svg(points, target)
    print(f"wrote {target} ({len(points)} goals)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
