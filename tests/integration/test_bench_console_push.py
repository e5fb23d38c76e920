"""The console's bench (`make bench`, bench/console_push.py) on a short run: it signs an agent in
twice, polling then with live updates, and reports requests per agent-hour and the delay from a
user's message to the agent's screen for each."""

from __future__ import annotations

from pathlib import Path

from bench_process import run_bench


def test_a_short_console_bench_reports_both_modes(tmp_path: Path, chromium: Path) -> None:
    # Given two messages per mode and a short quiet stretch
    arguments = ["--messages", "2", "--quiet-seconds", "5"]

    # When it runs as `make bench` runs it (its own process, the local server in another)
    result, figures = run_bench("bench.console_push", arguments, tmp_path / "console.json")

    # Then both modes were measured, every message reached the screen, pushed in the second mode
    assert set(figures) == {"polling", "push"}
    for mode in figures.values():
        assert len(mode["delays_seconds"]) == 2
        assert mode["requests_per_agent_hour_with_messages"] > 0
    assert figures["push"]["socket_frames"] >= 2  # one per message at least
    assert figures["polling"]["socket_frames"] == 0
    # the 2.5 s poll reads the list in any 5 s; with push the list is read when something changed
    assert figures["polling"]["requests_by_route"]["GET /live/conversations"] >= 2
    assert "req/agent-hour quiet" in result.stdout and "polling" in result.stdout
