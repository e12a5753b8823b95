"""Results as JSON in bench/results/, and docs/benchmarks.md rendered from all of them."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import RESULTS_DIR, Table, machine

DOCUMENT = Path(__file__).parent.parent / "docs" / "benchmarks.md"
ORDER = ["ingest", "ingest_tuned", "latency", "api", "storage", "scale", "soak"]

HEADER = """# Benchmarks

Every figure here comes from `python -m bench <name>` (or `make bench` for all) on the machine named
under each section; raw results are in `bench/results/<name>.json`. Benchmarks are not tests: they
assert nothing, and CI only runs `python -m bench smoke` to check that they still work.

The machine is a 2-core virtual machine whose speed differs from one instance to the next: the same
revision (bcb0bf7) drained a backlog at 25 µs of sensorhub CPU per row on one instance and at 5.5 µs
on another (2026-12-01). Compare figures within one section, or from alternating A/B runs of two
revisions on one instance (docs/ingest.md), not across sections run on different days.
"""


def save(name: str, tables: list[Table], *, quick: bool) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / (f"{name}.quick.json" if quick else f"{name}.json")
    document = {
        "benchmark": name,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "tables": [asdict(table) for table in tables],
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def _render_table(table: dict[str, Any]) -> list[str]:
    lines = [
        f"### {table['title']}",
        "",
        f"Goal: {table['goal']}  ",
        f"Command: `{table['command']}`",
        "",
    ]
    lines.append("| " + " | ".join(table["columns"]) + " |")
    lines.append("|" + "---|" * len(table["columns"]))
    for row in table["rows"]:
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    lines.append("")
    lines.extend(f"- {note}" for note in table["notes"])
    if table["notes"]:
        lines.append("")
    return lines


def render(results_dir: Path = RESULTS_DIR, document: Path = DOCUMENT) -> Path:
    files = {
        path.stem: path for path in results_dir.glob("*.json") if not path.stem.endswith(".quick")
    }
    names = [n for n in ORDER if n in files] + sorted(set(files) - set(ORDER))
    lines = [HEADER]
    for name in names:
        result = json.loads(files[name].read_text(encoding="utf-8"))
        lines += [f"## {name}", "", f"Run {result['date']} on {result['machine']}.", ""]
        for table in result["tables"]:
            lines += _render_table(table)
    document.parent.mkdir(parents=True, exist_ok=True)
    document.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return document
