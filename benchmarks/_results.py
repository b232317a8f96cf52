"""What a benchmark run produces: figures of per-run values, and goals with their ratios."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Figure", "Goal", "Row", "quantile", "spread"]


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; ``values`` need not be sorted."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def spread(values: list[float]) -> tuple[float, float, float]:
    """``(median, min, max)`` of the per-run values."""
    return statistics.median(values), min(values), max(values)


@dataclass
class Row:
    """One server (or reader) in a figure: for each column, one value per run."""

    label: str
    values: dict[str, list[float]] = field(default_factory=dict)
    note: str = ""

    def add(self, column: str, value: float) -> None:
        self.values.setdefault(column, []).append(value)


@dataclass
class Figure:
    """One figure: rows of per-run values; ``formats`` maps a column to its format spec."""

    key: str
    title: str
    method: str
    columns: list[str]
    formats: dict[str, str] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self, label: str) -> Row:
        for row in self.rows:
            if row.label == label:
                return row
        row = Row(label)
        self.rows.append(row)
        return row

    def find(self, label: str) -> Row | None:
        return next((row for row in self.rows if row.label == label), None)

    def ratios(self, column: str, numerator: str, denominator: str) -> list[float]:
        """Per-run ratios ``numerator / denominator`` of one column (same run, side by side)."""
        top, bottom = self.find(numerator), self.find(denominator)
        if top is None or bottom is None:
            return []
        pairs = zip(top.values.get(column, []), bottom.values.get(column, []), strict=False)
        return [a / b for a, b in pairs if b]


@dataclass
class Goal:
    """A ratio the project holds itself to; passes when the median ratio meets ``threshold``."""

    text: str
    ratio_text: str
    threshold: float
    direction: Literal["min", "max"]
    ratios: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def measured(self) -> bool:
        return bool(self.ratios)

    @property
    def passed(self) -> bool:
        if not self.ratios:
            return False
        median = statistics.median(self.ratios)
        return median >= self.threshold if self.direction == "min" else median <= self.threshold

    @property
    def verdict(self) -> str:
        if not self.measured:
            return "NOT MEASURED"
        return "PASS" if self.passed else "MISS"
