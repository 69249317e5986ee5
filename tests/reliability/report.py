"""What the reliability run measured: printed at the end, and written as JSON when
RELIABILITY_REPORT names a file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPORT_ENV = "RELIABILITY_REPORT"


@dataclass
class Report:
    matrix: list[dict[str, Any]] = field(default_factory=list)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add_row(self, **row: Any) -> None:
        self.matrix.append(row)

    def add(self, section: str, **values: Any) -> None:
        self.sections.setdefault(section, {}).update(values)

    def lines(self) -> list[str]:
        lines = []
        if self.matrix:
            header = f"{'fault':<27} {'expected':<44} {'bound':>6} {'took':>6} {'calls':>5}  got"
            lines += ["fault matrix (seconds the caller waited, provider calls made):", header]
            lines += [
                f"{r['name']:<27} {r['expected'][:44]:<44} {r['bound_s']:>6.1f} "
                f"{r['measured_s']:>6.2f} {r['attempts']:>5}  {r['outcome']}"
                for r in self.matrix
            ]
        for name, values in self.sections.items():
            lines.append(f"{name}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
        return lines

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {"matrix": self.matrix, **self.sections}
        path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")


def report_path() -> Path | None:
    value = os.environ.get(REPORT_ENV, "").strip()
    return Path(value) if value else None
