"""`make bench`: each function's handler import time (a cold-start proxy), as a ratio to `import boto3`.

The imports run in `.venv-layer`, a virtualenv at the project root that holds the layer's
requirements alone (layers/handoff/requirements.txt, what a deployed function has besides its own
code), built here with the running Python's version and rebuilt when the requirements change. The
dev venv's extra packages (moto, pytest, ...) would otherwise change what an import finds and costs.
Each handler module of template.yaml is imported in a fresh interpreter of that venv, with its code
folder and the layer on PYTHONPATH and the functions' environment variables, each time beside an
`import boto3` in another fresh interpreter; the goal is at most `GOAL` times `import boto3`, as the
median of those pairs' ratios.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handoff_local.aws import LOCAL_AWS_ENVIRONMENT, function_handlers, load_template
from handoff_tools.functions import ROOT, TEMPLATE

LAYER = ROOT / "layers" / "handoff"
REQUIREMENTS = LAYER / "requirements.txt"
LAYER_VENV = ROOT / ".venv-layer"
STAMP = LAYER_VENV / ".installed-stamp"
"""What the venv was built from: the Python version and a digest of the requirements."""

GOAL = 1.5
"""The most a handler's import may take, in multiples of `import boto3` (issue 14)."""
BASELINE_MODULE = "boto3"
IMPORT_PROBE = (
    "import importlib, sys, time; t = time.perf_counter(); "
    "importlib.import_module(sys.argv[1]); print(time.perf_counter() - t)"
)


# --- the layer's venv ---------------------------------------------------------------------------------


def venv_python(venv: Path = LAYER_VENV) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def stamp_text(requirements: Path = REQUIREMENTS) -> str:
    version = ".".join(map(str, sys.version_info[:3]))
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    return f"python {version}\nrequirements sha256 {digest}\n"


def layer_venv(progress: Callable[[str], None], *, rebuild: bool = False) -> Path:
    """The python of `.venv-layer`: reused when its stamp matches, else built afresh from the requirements."""
    python = venv_python()
    wanted = stamp_text()
    if not rebuild and python.exists() and STAMP.is_file() and STAMP.read_text(encoding="utf-8") == wanted:
        progress(f"reusing {LAYER_VENV.name} (its stamp matches {REQUIREMENTS.relative_to(ROOT)})")
        return python
    progress(f"building {LAYER_VENV.name} from {REQUIREMENTS.relative_to(ROOT)} alone")
    if LAYER_VENV.exists():
        shutil.rmtree(LAYER_VENV)
    subprocess.run([sys.executable, "-m", "venv", str(LAYER_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)], check=True, cwd=ROOT
    )
    STAMP.write_text(wanted, encoding="utf-8")
    return python


# --- what is imported, and how ------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportTarget:
    name: str
    module: str
    folder: Path | None  # the function's code folder, put first on PYTHONPATH
    label: str = ""  # what the report calls it: the module's file, or the layer module's name

    @property
    def shown(self) -> str:
        return self.label or self.name


def import_targets() -> list[ImportTarget]:
    """`import boto3`, then every function's handler module in template.yaml, by its code folder's name.

    A handler in its code folder (`functions/wake/app.py`) is shown by its file; one the layer holds
    (`handoff.deploy.console_site`, the console's deployment) by its module name.
    """
    targets = [ImportTarget(BASELINE_MODULE, BASELINE_MODULE, None, "import boto3 (baseline)")]
    for code_uri, handler in sorted(function_handlers(TEMPLATE).values(), key=lambda h: h[0].name):
        module = handler.rpartition(".")[0]
        path = code_uri / f"{module.replace('.', '/')}.py"
        label = str(path.relative_to(ROOT)) if path.is_file() else module
        targets.append(ImportTarget(code_uri.name, module, code_uri, label))
    return targets


def function_environment() -> dict[str, str]:
    """The Globals variables of template.yaml: parameters at their defaults, resources as dummy names."""
    template = load_template(TEMPLATE)
    declared = template.get("Parameters", {})
    variables = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    environment: dict[str, str] = {}
    for name, node in variables.items():
        if isinstance(node, dict) and isinstance(node.get("Ref"), str):
            parameter = declared.get(node["Ref"], {})
            environment[name] = str(parameter.get("Default", f"bench-{node['Ref']}"))
        else:
            environment[name] = str(node)
    return environment


def probe_environment(target: ImportTarget, function_variables: Mapping[str, str]) -> dict[str, str]:
    # a region, fake credentials and no config files or instance metadata: nothing reaches AWS
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "PYTHON", "POWERTOOLS_", "VIRTUAL_ENV"))
    }
    environment.update(LOCAL_AWS_ENVIRONMENT)
    environment.update(
        {
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            **function_variables,
        }
    )
    path = [str(LAYER)]
    if target.folder is not None:
        path.insert(0, str(target.folder))
    environment["PYTHONPATH"] = os.pathsep.join(path)
    return environment


def time_import(python: Path, target: ImportTarget, environment: Mapping[str, str]) -> float:
    result = subprocess.run(
        [str(python), "-c", IMPORT_PROBE, target.module],
        cwd=target.folder or ROOT,
        env=dict(environment),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"importing {target.name} failed:\n{result.stderr}")
    return float(result.stdout.strip().splitlines()[-1])


@dataclass
class Timings:
    seconds: dict[str, list[float]]
    """Seconds per import, by target; the baseline's from every pair."""
    ratios: dict[str, list[float]]
    """Each handler's import over the `import boto3` timed next to it, pair by pair."""


def measure_imports(
    python: Path, targets: Sequence[ImportTarget], repetitions: int, progress: Callable[[str], None]
) -> Timings:
    """Each handler's import paired with an `import boto3` timed right beside it, in fresh interpreters.

    The machine's speed drifts by tens of percent over seconds; a pair takes well under one, so its
    ratio cancels the drift that a ratio of two medians taken apart would keep. The pair's order
    alternates from round to round. A first round is thrown away: it writes the bytecode caches the
    later ones read.
    """
    variables = function_environment()
    environments = {t.name: probe_environment(t, variables) for t in targets}
    baseline, *handlers = targets
    timings = Timings({t.name: [] for t in targets}, {t.name: [] for t in handlers})
    for round_number in range(repetitions + 1):
        progress(f"import timing: round {round_number}/{repetitions}")
        for target in handlers:
            pair = (baseline, target) if round_number % 2 else (target, baseline)
            seconds = {t.name: time_import(python, t, environments[t.name]) for t in pair}
            if round_number > 0:
                timings.seconds[baseline.name].append(seconds[baseline.name])
                timings.seconds[target.name].append(seconds[target.name])
                timings.ratios[target.name].append(seconds[target.name] / seconds[baseline.name])
    return timings


def costliest_imports(python: Path, target: ImportTarget, top: int) -> list[tuple[int, str]]:
    """`python -X importtime` of one target: its `top` imports by cumulative microseconds."""
    environment = probe_environment(target, function_environment())
    result = subprocess.run(
        [str(python), "-X", "importtime", "-c", f"import {target.module}"],
        cwd=target.folder or ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"importing {target.name} failed:\n{result.stderr}")
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        rows.append((int(cumulative), name.rstrip()))
    return sorted(rows, key=lambda row: row[0], reverse=True)[:top]


# --- the figures --------------------------------------------------------------------------------------


def figures(python: Path, targets: Sequence[ImportTarget], timings: Timings) -> dict[str, Any]:
    shown = {target.name: target.shown for target in targets}
    handlers = {
        name: {
            "handler_module": shown[name],
            "median_seconds": statistics.median(timings.seconds[name]),
            "ratio_to_boto3": statistics.median(ratios),
            "ok": statistics.median(ratios) <= GOAL,
            "samples": timings.seconds[name],
            "ratios": ratios,
        }
        for name, ratios in timings.ratios.items()
    }
    baseline = timings.seconds[BASELINE_MODULE]
    return {
        "python": str(python),
        "requirements": str(REQUIREMENTS.relative_to(ROOT)),
        "repetitions": min(len(ratios) for ratios in timings.ratios.values()),
        "goal_ratio": GOAL,
        "baseline": {
            "module": BASELINE_MODULE,
            "shown": shown[BASELINE_MODULE],
            "median_seconds": statistics.median(baseline),
            "samples": baseline,
        },
        "handlers": handlers,
        "ok": all(handler["ok"] for handler in handlers.values()),
    }


def report(result: Mapping[str, Any]) -> str:
    baseline = result["baseline"]
    lines = [
        f"Import time of each handler module in a fresh interpreter of {LAYER_VENV.name} (the layer's "
        f"requirements alone, {result['requirements']}),",
        f"each paired with an import boto3 timed beside it, {result['repetitions']} pairs after a warm-up "
        f"round; the ratio is the pairs' median; goal: at most {result['goal_ratio']} x import boto3",
        f"  {'module':<36}{'median s':>10}{'x import boto3':>16}  goal",
        f"  {baseline['shown']:<36}{baseline['median_seconds']:>10.3f}{1:>16.2f}",
    ]
    lines += [
        f"  {h['handler_module']:<36}{h['median_seconds']:>10.3f}{h['ratio_to_boto3']:>16.2f}"
        f"  {'ok' if h['ok'] else 'FAIL'}"
        for h in result["handlers"].values()
    ]
    lines += [
        "  Warning: ratios measured on a shared, noisy machine: compare them with each other and across",
        "  runs, not as Lambda cold-start times (Lambda's CPU, the layer's location and INIT differ).",
        "",
        "Result: "
        + ("ok" if result["ok"] else f"FAILED (a handler's import takes more than {GOAL} x import boto3)"),
    ]
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------------------


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.imports", description=__doc__)
    parser.add_argument(
        "--repetitions",
        type=int,
        default=15,
        help="pairs (a handler beside import boto3) per handler (default 15)",
    )
    parser.add_argument(
        "--rebuild", action="store_true", help=f"build {LAYER_VENV.name} afresh even when its stamp matches"
    )
    parser.add_argument(
        "--profile",
        metavar="FUNCTION",
        help="instead of timing, list FUNCTION's costliest imports (python -X importtime; "
        "`boto3` for the baseline)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON to PATH")
    args = parser.parse_args(argv)
    if args.repetitions < 1:
        parser.error("--repetitions must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Time the imports; 0 when every handler meets the goal, 1 when one is over it."""
    args = arguments(argv)

    def progress(text: str) -> None:
        print(f"... {text}", file=sys.stderr, flush=True)

    python = layer_venv(progress, rebuild=args.rebuild)
    targets = import_targets()
    if args.profile is not None:
        named = {t.name: t for t in targets}
        if args.profile not in named:
            print(f"no function {args.profile!r}: {', '.join(named)}", file=sys.stderr)
            return 2
        target = named[args.profile]
        print(f"{'cumulative ms':>14}  module ({target.name}, python -X importtime in {LAYER_VENV.name})")
        for microseconds, module in costliest_imports(python, target, top=40):
            print(f"{microseconds / 1000:>14.1f}  {module}")
        return 0
    result = figures(python, targets, measure_imports(python, targets, args.repetitions, progress))
    print(report(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
