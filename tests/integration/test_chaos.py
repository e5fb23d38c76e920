"""The chaos harness on a small run: every fault kind and crash point injected, nothing lost, no
double that at-least-once delivery could have avoided."""

from __future__ import annotations

from pathlib import Path

from bench_process import run_bench

FAULT_KINDS = {"server_error", "throttled_429", "throttled_400", "timeout", "refused"}
CRASH_POINTS = {"after receive", "after load", "after commit", "after send"}


def test_a_small_chaos_run(tmp_path: Path) -> None:
    # Given 60 texts from 10 users, a fixed seed, and half the sends answered with a fault (so that
    # each kind comes up in so few sends)
    arguments = ["--messages", "60", "--users", "10", "--seed", "7", "--fault-rate", "0.5"]

    # When it runs as `make chaos` runs it (its own process: it patches the wiring, moto and the clock)
    result, figures = run_bench("bench.chaos", arguments, tmp_path / "chaos.json")

    # Then nothing was lost, doubled avoidably or dead-lettered, and the run settled
    assert figures["ok"]
    assert figures["lost"] == 0
    assert figures["doubled_avoidable"] == 0
    assert figures["dead_lettered"] == 0
    assert figures["outbox_pending"] == 0 and figures["queue_depth"] == 0
    assert figures["misdirected"] == 0 and figures["transcript_wrong"] == 0
    # and the chaos was real: every fault kind and every crash point came up, duplicates were sent
    assert set(figures["faults"]) == FAULT_KINDS
    assert all(n >= 1 for n in figures["faults"].values()), figures["faults"]
    assert set(figures["crashes"]) == CRASH_POINTS
    assert all(n == 1 for n in figures["crashes"].values()), figures["crashes"]
    assert figures["duplicates"].get("immediately", 0) >= 1 and figures["duplicates"].get("late", 0) >= 1
    # and every message is counted exactly once
    assert (
        figures["delivered_once"]
        + figures["lost"]
        + figures["refused_for_good"]
        + figures["doubled_avoidable"]
        + figures["doubled_unavoidable"]
        == figures["messages"]
        == 60
    )
    # and the embedded run, on moto as handoff_local.moto_patches makes it, kept to its budget
    embedded = figures["embedded_run"]
    assert embedded["moto_patched"]
    assert embedded["peak_memory_mib"] < embedded["budget"]["peak_memory_mib"] == 1024
    assert embedded["webhook_post_ms"]["p95"] < embedded["budget"]["ms"] == 100
    assert 0 < embedded["ms_per_text"] < embedded["budget"]["ms"]
    assert [c["texts"] for c in embedded["checkpoints"]] == [60]
    assert "Result: ok" in result.stdout
