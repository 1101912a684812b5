r"""The packages to carry: what pip resolved for the GPU machine, less what the machine already has.

    python experiments/bench/gpu_missing.py PIP_REPORT MACHINE_PACKAGES > missing.txt

PIP_REPORT is `pip install --dry-run --report`'s JSON; MACHINE_PACKAGES a list of names, one a
line, `#` comments (experiments/bench/gpu_machine_packages.txt).
Prints `name==version` lines for `pip download`. Names are compared as PEP 503 normalizes them
(`Typing_Extensions` is `typing-extensions`).
"""

import json
import re
import sys


def normalized(name: str) -> str:
  return re.sub(r"[-_.]+", "-", name).lower()


def missing(report: dict, machine_packages: list[str]) -> list[str]:
  resolved = {normalized(i["metadata"]["name"]): i["metadata"]["version"] for i in report["install"]}
  has = {normalized(n) for n in machine_packages}
  return [f"{name}=={version}" for name, version in sorted(resolved.items()) if name not in has]


def read_names(path: str) -> list[str]:
  with open(path) as f:
    return [line.strip() for line in f if line.strip() and not line.startswith("#")]


if __name__ == "__main__":
  if len(sys.argv) != 3:
    print("error: usage: experiments/bench/gpu_missing.py PIP_REPORT MACHINE_PACKAGES", file=sys.stderr)
    sys.exit(2)
  with open(sys.argv[1]) as f:
    print("\n".join(missing(json.load(f), read_names(sys.argv[2]))))
