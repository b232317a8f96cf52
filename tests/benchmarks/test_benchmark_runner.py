"""The benchmark runner end to end with tiny sizes: it runs, reports, and leaves no server."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIGURES = [
    "abuse-abandoned",
    "abuse-cancel",
    "abuse-health",
    "abuse-replay",
    "figure1",
    "figure2",
    "figure3",
    "figure4",
    "figure5",
    "figure6",
    "figure7a",
    "figure7b",
    "figure8a",
    "figure8b",
    "pipeline-instant",
    "pipeline-paced",
    "pipeline-start",
    "pipeline-ttft",
]
LITELLM_GOAL = "Pipeline paced, OpenAI wire: server CPU/token ≤ 0.2x LiteLLM"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench")
    report, raw = out / "benchmarks.md", out / "benchmarks.json"
    command = [sys.executable, "benchmarks/run.py", "--smoke", "--output", str(report)]
    # The runner measures the installed distributions, plugins included.
    env = {k: v for k, v in os.environ.items() if k != "AINATIVE_DISABLE_PLUGIN_AUTOLOAD"}
    completed = subprocess.run(
        [*command, "--json", str(raw)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert (out / "images" / "benchmarks.svg").read_text().startswith("<?xml")  # beside it
    return report.read_text(), json.loads(raw.read_text())


def test_every_figure_has_a_row_per_server_with_finite_values(
    smoke_run: tuple[str, dict[str, Any]],
) -> None:
    _, raw = smoke_run
    figures = {figure["key"]: figure for figure in raw["figures"]}
    assert sorted(figures) == FIGURES
    for key, figure in figures.items():
        assert figure["rows"], key
        for row in figure["rows"]:
            assert row["values"], (key, row["label"])
            for values in row["values"].values():
                assert values
                assert all(math.isfinite(v) for v in values), (key, row["label"])
    labels = {row["label"] for row in figures["figure1"]["rows"]}
    expected = {"ainative SSE", "ainative WS", "ainative OpenAI API", "naive", "sse-starlette"}
    expected |= {"raw1", "raw-batched"}
    expected.add("raw1 WS")
    assert expected <= labels
    assert "ainative OpenAI API" in {row["label"] for row in figures["figure2"]["rows"]}
    batched = "ainative WS, batched frames"
    assert batched in labels
    assert batched in {row["label"] for row in figures["figure2"]["rows"]}
    cancel_rows = {row["label"] for row in figures["abuse-cancel"]["rows"]}
    assert cancel_rows == {
        f"ainative serve --backend {backend}{framing}{load}"
        for backend in ("asyncio", "trio")
        for framing in ("", ", batched frames")
        for load in ("", ", 5 streams")  # the smoke run's 20 streams, and a quarter of them
    }
    tokens = {row["label"]: row["values"]["tokens/s"] for row in figures["figure1"]["rows"]}
    assert all(value[0] > 0 for value in tokens.values())


def test_every_goal_is_measured_and_judged(smoke_run: tuple[str, dict[str, Any]]) -> None:
    text, raw = smoke_run
    assert len(raw["goals"]) == 31
    echo = [goal["text"] for goal in raw["goals"] if goal["text"].startswith("Echo ")]
    assert len(echo) == 6  # the pipeline issue's goals on the echo figures
    for goal in raw["goals"]:
        if goal["text"] == LITELLM_GOAL:
            continue  # the optional peer is not installed by a smoke run
        assert goal["ratios"], goal["text"]
        assert goal["verdict"] in {"PASS", "MISS"}
        assert f"**{goal['verdict']}**" in text


def test_the_optional_litellm_peer_is_skipped_with_a_line_that_says_why(
    smoke_run: tuple[str, dict[str, Any]],
) -> None:
    text, raw = smoke_run
    goal = next(goal for goal in raw["goals"] if goal["text"] == LITELLM_GOAL)
    assert goal["verdict"] == "NOT MEASURED"
    assert "LiteLLM was not measured: not asked for" in goal["note"]
    assert "LiteLLM proxy (litellm[proxy]==" in text


def test_pipeline_figures_have_every_server_in_front_of_each_vendor(
    smoke_run: tuple[str, dict[str, Any]],
) -> None:
    _, raw = smoke_run
    figures = {figure["key"]: figure for figure in raw["figures"]}
    labels = {row["label"] for row in figures["pipeline-paced"]["rows"]}
    for vendor in ("openai", "anthropic", "ollama"):
        for kind in ("upstream direct", "ainative", "naive"):
            assert f"{kind} ({vendor})" in labels
    paced = {row["label"]: row["values"] for row in figures["pipeline-paced"]["rows"]}
    assert paced["ainative (openai)"]["vs naive (CPU)"][0] > 0
    start = {row["label"] for row in figures["pipeline-start"]["rows"]}
    assert "ainative (echo provider, no upstream)" in start


def test_report_has_machine_versions_method_and_tables(
    smoke_run: tuple[str, dict[str, Any]],
) -> None:
    text, _ = smoke_run
    for heading in ("## Machine", "## Versions", "## Method", "## Goals"):
        assert heading in text
    for needle in ("| cores | ", "| uvicorn | ", "| hypercorn | ", "| ainative-server | "):
        assert needle in text
    assert "Smoke run" in text
    assert "failed" not in text


def test_no_server_outlives_the_run(smoke_run: tuple[str, dict[str, Any]]) -> None:
    _, raw = smoke_run
    assert raw["server_pids"]
    for pid in raw["server_pids"]:
        try:
            cmdline = psutil.Process(pid).cmdline()
        except psutil.NoSuchProcess:
            continue
        assert "benchmarks._serve" not in " ".join(cmdline), pid


def test_the_plot_is_drawn_from_the_report(tmp_path: Path) -> None:
    """``python -m benchmarks._plot REPORT`` draws every goal of the committed report."""
    report = tmp_path / "benchmarks.md"
    report.write_text((ROOT / "docs" / "benchmarks.md").read_text())
    goals = [
        line.split(" | ")[0].removeprefix("| ")
        for line in report.read_text().splitlines()
        if line.startswith("| ") and (" | ≥ " in line or " | ≤ " in line)
    ]
    assert len(goals) >= 20
    drawn = subprocess.run(
        [sys.executable, "-m", "benchmarks._plot", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert drawn.returncode == 0, drawn.stderr
    assert f"({len(goals)} goals)" in drawn.stdout
    svg = (tmp_path / "images" / "benchmarks.svg").read_text()
    assert svg.startswith("<?xml")
    for goal in goals:
        assert goal.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in svg, goal
