"""Experiment outputs: results.json (machine-readable numbers), and results.md with the same numbers as tables."""

import json
import math
import os
from typing import Any


def format_cell(value: Any) -> str:
  """A table cell: floats to 4 significant digits, infinity (a goal never reached) as '—'."""
  if isinstance(value, float):
    if math.isinf(value) or math.isnan(value):
      return "—" if math.isinf(value) else "nan"
    return f"{value:.4g}"
  return str(value)


def markdown_table(rows: list[dict], columns: list[str] | None = None) -> str:
  columns = columns or list(rows[0])
  lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
  lines += ["| " + " | ".join(format_cell(r.get(c, "")) for c in columns) + " |" for r in rows]
  return "\n".join(lines) + "\n"


def claim_lines(claims: dict[str, bool]) -> str:
  """Note lines "- holds: <claim>" / "- does NOT hold: <claim>" for results.json's "claims"."""
  return "\n".join(f"- {'holds' if ok else 'does NOT hold'}: {claim}" for claim, ok in claims.items())


def write(workdir: str, title: str, results: dict, tables: dict[str, list[dict]], notes: str = "") -> None:
  """results.json holds `results` plus every table; results.md shows the tables and notes."""
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump({**results, "tables": tables}, f, indent=2, default=float)
  parts = [f"# {title}\n"]
  if notes:
    parts.append(notes.strip() + "\n")
  for name, rows in tables.items():
    parts.append(f"## {name}\n\n" + markdown_table(rows))
  with open(os.path.join(workdir, "results.md"), "w") as f:
    f.write("\n".join(parts))
