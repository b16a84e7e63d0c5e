"""What every benchmark writes beside its figures: the commit, the exact command, the machine
and the date (``meta``), and how a result becomes ``bench/results/NAME.json`` + ``NAME.md``.

A benchmark calls ``started = start()`` first (the load of the machine before it adds its
own), then ``write_result(name, benchmark, result, started)``: the JSON is written, and the
markdown is rendered from that JSON by ``bench/render.py`` (never written any other way, so a
committed ``.md`` always equals the render of its committed ``.json``; a test checks it).
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


@dataclass(frozen=True)
class Started:
    at: float  # wall clock
    monotonic: float
    load_1m: float
    command: str


def start() -> Started:
    """Note the start of a benchmark (before it starts any node or operator)."""
    return Started(time.time(), time.monotonic(), os.getloadavg()[0], command_line())


def command_line() -> str:
    """The exact command as run from the repository root (``python bench/x.py --arg ...``)."""
    script = Path(sys.argv[0]).resolve()
    try:
        shown = script.relative_to(REPO).as_posix()
    except ValueError:
        shown = sys.argv[0]
    return shlex.join(["python", shown, *sys.argv[1:]])


def git_commit() -> dict[str, Any]:
    """{"commit": HEAD, "dirty": whether tracked files differ from it}."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": None}
    # the results being written are expected to change: only other files make the tree dirty
    dirty = [line for line in status.splitlines() if "bench/results/" not in line]
    return {"commit": head, "dirty": bool(dirty)}


def _first_line(args: list[str]) -> str:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=20).stdout
        return out.strip().splitlines()[0].strip()
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, OS, Python, Node.js and the chain node's version."""
    model, memory = platform.processor() or "unknown", None
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
        memory = next(int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal:"))
    except (OSError, StopIteration, ValueError):
        pass
    from relayer.devnet.anvil import anvil_binary

    return {"cpu": model, "cores": os.cpu_count(), "memory_mib": memory, "os": platform.platform(),
            "python": platform.python_version(), "node_js": _first_line(["node", "--version"]),
            "anvil": _first_line([anvil_binary(), "--version"])}


def metadata(started: Started) -> dict[str, Any]:
    end_load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    return {
        **git_commit(),
        "command": started.command,
        "date_utc": datetime.fromtimestamp(started.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_s": round(time.monotonic() - started.monotonic, 1),
        "machine": machine(),
        "load_1m_before": round(started.load_1m, 2),
        "load_1m_after": round(end_load, 2),
        # the machine was shared when it was already busy before this benchmark added its own load
        "shared_machine_loaded": started.load_1m > 0.5 * cores,
        # what else ran on the machine, when the one who ran it says so (BENCH_NOTE="...")
        "note": os.environ.get("BENCH_NOTE", ""),
    }


def write_result(name: str, benchmark: str, result: dict[str, Any], started: Started,
                 results: Path = RESULTS, dumps: Callable[[dict[str, Any]], str] | None = None) -> Path:
    """Write ``results/NAME.json`` (``result`` plus ``benchmark`` and ``meta``) and render
    ``NAME.md`` from it; returns the JSON path."""
    from render import render_file  # bench/ is on sys.path when a benchmark runs

    document = {"benchmark": benchmark, "meta": metadata(started), **result}
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"{name}.json"
    path.write_text(dumps(document) if dumps else json.dumps(document, indent=2, sort_keys=True) + "\n")
    path.with_suffix(".md").write_text(render_file(path))
    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path} and .md", flush=True)
    return path


def meta_markdown(meta: dict[str, Any]) -> str:
    """The provenance paragraph every rendered result ends with."""
    m = meta["machine"]
    dirty = " (with uncommitted changes)" if meta.get("dirty") else ""
    loaded = ("; **measured on a loaded shared machine** (other engineers' tests were running: load "
              f"{meta['load_1m_before']:g} before the benchmark started)" if meta.get("shared_machine_loaded") else "")
    return "\n".join([
        "## Provenance",
        "",
        f"- command: `{meta['command']}` ({meta['duration_s']:g} s)",
        f"- commit: `{meta['commit']}`{dirty}",
        f"- date: {meta['date_utc']}",
        f"- machine: {m['cores']} cores ({m['cpu']}), {m['memory_mib']} MiB, {m['os']}, Python {m['python']}, "
        f"Node.js {m['node_js']}, {m['anvil']}",
        f"- 1-minute load average: {meta['load_1m_before']:g} before, {meta['load_1m_after']:g} after{loaded}",
        *([f"- note: {meta['note']}"] if meta.get("note") else []),
        "",
        "Generated by `bench/render.py` from the JSON beside this file; do not edit.",
        "",
    ])
