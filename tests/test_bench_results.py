"""bench/results/: every file comes from a benchmark run, with its provenance, and every
markdown file is the render of its JSON (``python bench/render.py`` regenerates them; this
test only reads)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
sys.path.insert(0, str(REPO / "bench"))

import render  # noqa: E402

MACHINE_KEYS = {"cpu", "cores", "memory_mib", "os", "python", "node_js", "anvil"}


def test_every_result_names_its_commit_command_machine_and_date() -> None:
    found = render.documents()
    assert found, "bench/results holds no JSON"
    for path, doc in found:
        meta = doc["meta"]
        assert re.fullmatch(r"[0-9a-f]{40}", meta["commit"]) and isinstance(meta["dirty"], bool), path.name
        assert meta["command"].startswith("python bench/"), (path.name, meta["command"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["date_utc"]), path.name
        assert MACHINE_KEYS <= set(meta["machine"]) and all(meta["machine"][k] for k in MACHINE_KEYS), path.name


def test_every_markdown_file_is_the_render_of_its_json() -> None:
    problems = render.stale()
    assert not problems, ("bench/results or README.md drifted from the JSON (regenerate with "
                          f"`python bench/render.py`, never edit by hand): {problems}")


def test_the_benchmarks_write_results_and_no_test_does() -> None:
    writers = [p for p in (REPO / "tests").rglob("*.py") if p.name != Path(__file__).name
               and re.search(r"bench.{0,12}results", p.read_text()) and "write" in p.read_text()]
    assert not writers, f"tests must not write into bench/results (a fresh clone stays clean): {writers}"
    for path, doc in render.documents():
        script = doc["meta"]["command"].split()[1]
        assert (REPO / script).is_file(), f"{path.name} names {script}, which does not exist"
