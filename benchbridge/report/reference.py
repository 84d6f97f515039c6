"""The published numbers of Yosinski et al. 2014, shipped with the package as data with their source."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from benchbridge.errors import UserError

REFERENCES = {"yosinski2014": "yosinski2014_reference.csv"}
LABEL = "published (Yosinski et al. 2014)"


@dataclass(frozen=True)
class Reference:
    """Published top-1 per (figure, condition, n), with the file's comment lines as its source."""

    name: str
    source: list[str]
    rows: list[tuple[str, str, int, float]]

    def series(self, figure: str, condition: str) -> dict[int, float]:
        return {n: v for f, c, n, v in self.rows if f == figure and c == condition}


def load_reference(name: str) -> Reference:
    """A shipped reference by name, or a UserError listing the ones there are."""
    if name not in REFERENCES:
        raise UserError(f"unknown reference '{name}'. Valid choices: {', '.join(REFERENCES)}.", key="--reference",
                        hint="Use --reference yosinski2014.")
    text = resources.files("benchbridge.report").joinpath("data", REFERENCES[name]).read_text()
    source, rows = [], []
    for line in text.splitlines():
        if line.startswith("#"):
            source.append(line.lstrip("# ").rstrip())
        elif line.strip():
            fig, cond, n, top1 = line.split(",")
            rows.append((fig, cond, int(n), float(top1)))
    return Reference(name, source, rows)
