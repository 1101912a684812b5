"""Where a compiled step's time goes: per-op times from a `jax.profiler` trace, named and grouped
through the step's own HLO (`compiled.as_text()`).

A trace event of the XLA CPU runtime is named after the HLO instruction it ran (`fusion.12`,
`convolution.3`); the HLO says what that instruction is: its opcode, the opcodes fused into it, and
the JAX op and Flax module it came from (`metadata={op_name=...}`), where autodiff marks the
backward pass as `transpose(jvp(...))`. Times are self times (an instruction's time minus the
instructions run inside it, such as a scan's body inside its `while`) summed over every thread, so
on a multi-core CPU they add up to CPU time, not wall time.
"""

import collections
import dataclasses
import re
import tempfile
from collections.abc import Callable
from typing import Any

import jax

from trends_jax.run import profiler

_COMPUTATION = re.compile(r"^(?:ENTRY\s+)?%([\w.\-]+)\s")
# `%name = type opcode(`; a tuple type holds spaces but no '='.
_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%([\w.\-]+)\s*=\s*(?:\([^=]*?\)|\S+)\s+([\w\-]+)\(")
_CALLS = re.compile(r"(?:calls|body|condition|to_apply)=%([\w.\-]+)")
_OP_NAME = re.compile(r'op_name="([^"]*)"')
# Opcodes that only hold others (their own time is bookkeeping) or move no data.
_CONTAINERS = {"while", "call", "conditional", "async-start", "async-done"}
_FREE = {"parameter", "constant", "bitcast", "get-tuple-element", "tuple"}


@dataclasses.dataclass
class Instruction:
  name: str
  opcode: str
  op_name: str  # JAX's name stack, e.g. "jit(step)/transpose(jvp(ResNet))/Conv_0/conv_general_dilated".
  calls: tuple[str, ...]  # Computations it runs (a fusion's body, a while's body and condition).


def parse_hlo(text: str) -> tuple[dict[str, Instruction], dict[str, list[str]]]:
  """Every instruction of an HLO module by name, and each computation's instruction names."""
  instructions, computations, current = {}, {}, None
  for line in text.splitlines():
    header = _COMPUTATION.match(line)
    if header and not line.startswith(" "):
      current = computations.setdefault(header.group(1), [])
      continue
    match = _INSTRUCTION.match(line)
    if match and current is not None:
      name, opcode = match.groups()
      op_name = _OP_NAME.search(line)
      instructions[name] = Instruction(name, opcode, op_name.group(1) if op_name else "",
                                       tuple(_CALLS.findall(line)))
      current.append(name)
  return instructions, computations


def _opcodes_inside(instruction: Instruction, instructions: dict, computations: dict) -> set[str]:
  """The opcodes a fusion runs: its own and those of the computations it calls, recursively."""
  seen, todo, opcodes = set(), list(instruction.calls), {instruction.opcode}
  while todo:
    computation = todo.pop()
    if computation in seen:
      continue
    seen.add(computation)
    for name in computations.get(computation, ()):
      inner = instructions[name]
      opcodes.add(inner.opcode)
      todo.extend(inner.calls)
  return opcodes - _FREE - {"fusion"}


def kind(opcodes: set[str]) -> str:
  """What an instruction mostly does, by the costliest opcode it holds."""
  for opcodes_of_kind, name in (({"convolution"}, "convolution"), ({"dot"}, "matmul"),
                                ({"custom-call"}, "custom call"), ({"scatter"}, "scatter"),
                                ({"gather", "dynamic-slice"}, "gather"), ({"reduce", "reduce-window"}, "reduction"),
                                ({"sort"}, "sort"), ({"rng-bit-generator", "rng"}, "random numbers")):
    if opcodes & opcodes_of_kind:
      return name
  if opcodes & _CONTAINERS:
    return "control flow"
  if opcodes and opcodes <= {"copy", "transpose", "reshape", "broadcast", "concatenate", "slice", "pad",
                             "dynamic-update-slice", "copy-start", "copy-done"}:
    return "data movement"
  return "elementwise"


def phase(op_name: str) -> str:
  """forward, backward (autodiff's transpose), "outside autodiff" (the optimizer, input sampling,
  metrics, BatchNorm's running averages), or "XLA" for an instruction XLA's passes made with no
  JAX op behind it (mostly layout changes around convolutions)."""
  if not op_name:
    return "XLA"
  if "transpose(" in op_name:
    return "backward"
  if "jvp(" in op_name:
    return "forward"
  return "outside autodiff"


def layer(op_name: str) -> str:
  """The Flax module path in an op's name stack, e.g. "ResNet/BasicBlock_3/Conv_1" (or "")."""
  parts = [p for p in op_name.split("/")[:-1] if not p.startswith(("jit(", "pjit(", "jvp(", "transpose(", "vmap("))
           and not p.endswith(")")]
  inner = re.findall(r"(?:jvp|transpose)\(([^()]*)\)", op_name)
  return "/".join(([inner[-1]] if inner else []) + parts)


def self_times(events: list[dict], names) -> dict[str, float]:
  """µs per HLO instruction: each event's duration minus that of the instruction events nested in
  it on the same thread, summed over threads. Only events named in `names` count."""
  by_thread = collections.defaultdict(list)
  for e in events:
    if e["name"] in names:
      by_thread[(e.get("pid"), e.get("tid"))].append(e)
  totals = collections.Counter()
  for thread_events in by_thread.values():
    thread_events.sort(key=lambda e: (e["ts"], -e["dur"]))
    stack = []  # [end time, name] of the enclosing instruction events.
    for e in thread_events:
      while stack and stack[-1][0] <= e["ts"]:
        stack.pop()
      if stack:
        totals[stack[-1][1]] -= e["dur"]
      totals[e["name"]] += e["dur"]
      stack.append((e["ts"] + e["dur"], e["name"]))
  return dict(totals)


def op_table(logdir: str, hlo_text: str, calls: int, top: int = 15) -> dict[str, list[dict]]:
  """The traced step's costliest instructions and its time by kind and phase, per call.

  `logdir` holds the trace of `calls` calls of the compiled program whose HLO is `hlo_text`."""
  instructions, computations = parse_hlo(hlo_text)
  times = self_times(profiler.read_trace(logdir), instructions)
  total = sum(max(t, 0.0) for t in times.values()) or 1.0
  rows, groups = [], collections.Counter()
  for name, us in sorted(times.items(), key=lambda item: -item[1]):
    instruction = instructions[name]
    what = kind(_opcodes_inside(instruction, instructions, computations))
    when = phase(instruction.op_name)
    groups[(what, when)] += us
    rows.append({"op": name, "kind": what, "phase": when, "layer": layer(instruction.op_name),
                 "jax_op": instruction.op_name.rsplit("/", 1)[-1],
                 "ms_per_step": us / calls / 1000, "share": us / total})
  by_kind = [{"kind": what, "phase": when, "ms_per_step": us / calls / 1000, "share": us / total}
             for (what, when), us in groups.most_common()]
  return {"top ops": rows[:top], "time by kind": by_kind}


def profile_calls(compiled, run: Callable[[], Any], calls: int, top: int = 15) -> dict[str, list[dict]]:
  """`op_table` of `calls` calls of `run`, which calls `compiled` once and waits for it."""
  with tempfile.TemporaryDirectory() as logdir:
    jax.profiler.start_trace(logdir)
    for _ in range(calls):
      run()
    jax.profiler.stop_trace()
    return op_table(logdir, compiled.as_text(), calls, top)
