"""Runs a bench module (`make bench`, `make chaos`) as the Makefile does: its own process, the
project's folders on PYTHONPATH, its figures written as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_bench(
    module: str, arguments: list[str], figures_path: Path
) -> tuple[subprocess.CompletedProcess[str], Any]:
    """The finished process (its output for failure messages) and the figures it wrote."""
    result = subprocess.run(
        [sys.executable, "-m", module, *arguments, "--json", str(figures_path)],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                str(ROOT / folder) for folder in ("layers/handoff", "tools", "local")
            ),
        },
        capture_output=True,
        text=True,
        timeout=900,  # a guard against a hang, not a timing assertion
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result, json.loads(figures_path.read_text(encoding="utf-8"))
