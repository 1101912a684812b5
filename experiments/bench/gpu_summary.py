r"""Merges the parts of experiments/bench/bench_gpu.sh into OUT_DIR/bench_gpu.json and prints a table:

    python experiments/bench/gpu_summary.py OUT_DIR PART...

Each part left OUT_DIR/<part>.status ("exit_code seconds limit_seconds", written by the script),
OUT_DIR/<part>.log and, where it got that far, OUT_DIR/<part>/results.json. A part whose exit
code is not 0 is recorded with the end of its log (and its results where it wrote them); 124 is
an overrun of its cap. The "summary" section puts the measured numbers beside what they are
measured against: PyTorch's ResNet-50 on the same batch, the published figures, gensim's CPU
rate and ResNet-50's consumption of input. "environment" is what the run ran on
(experiments/bench/gpu_environment.py).
"""

import json
import os
import sys
import time

# Context for ResNet-50 (README / DESIGN.md "Published numbers worth knowing").
RESNET50 = {
    "goal_ratio_trends_jax_over_pytorch": 1.0,
    "best_public_images_per_sec": 7950,
    "best_public_source": "MLPerf Training v4.0, ResNet-50, per H200-class GPU, hand-fused MXNet kernels",
    "training_flops_per_image": 24.5e9,
    "arithmetic_ceiling_images_per_sec_h200": 40000,
}
FASHION_PUBLISHED = {"published_accuracy": 0.949,
                     "published_source": "Zalando's Fashion-MNIST benchmark table, ResNet18 (test accuracy)"}
# Measured on a CPU beside trends_jax, on the word2vec part's corpus (docs/gpu.md): not a GPU figure.
GENSIM_CPU = {"gensim_words_per_sec_cpu": 431300,
              "gensim_source": "experiments/bench/word2vec.py --corpus=w2v_corpus/small: gensim 4 skip-gram, 2 worker "
                               "threads, 2-core Intel Xeon CPU, 2026-12-02 (trends_jax on that CPU: 239,200)"}
LOG_TAIL = 3000


def read_part(out: str, name: str) -> dict:
  part = {}
  status = os.path.join(out, f"{name}.status")
  if os.path.exists(status):
    with open(status) as f:
      code, seconds, limit = f.read().split()
    part.update(exit_code=int(code), seconds=int(seconds), limit_seconds=int(limit), timed_out=int(code) in (124, 137))
  else:
    part.update(exit_code=None, error="the part did not run (no status file)")
  results = os.path.join(out, name, "results.json")
  if os.path.exists(results):
    with open(results) as f:
      part["results"] = {k: v for k, v in json.load(f).items() if k != "tables"}
  if part.get("exit_code") != 0:
    log = os.path.join(out, f"{name}.log")
    if os.path.exists(log):
      with open(log, errors="replace") as f:
        part["error"] = f.read()[-LOG_TAIL:]
  part["ok"] = part.get("exit_code") == 0 and "results" in part
  return part


def _results(parts: dict, name: str) -> dict:
  part = parts.get(name, {})
  return part.get("results", {}) if part.get("ok") else {}


def summarize(parts: dict) -> dict:
  summary = {}
  jax_r50, torch_r50 = _results(parts, "resnet50"), _results(parts, "torch_resnet50")
  consumption = jax_r50.get("examples_per_sec")
  if "resnet50" in parts or "torch_resnet50" in parts:
    ratio = (consumption / torch_r50["images_per_sec"]
             if consumption and torch_r50.get("images_per_sec") else None)
    peak = jax_r50.get("peak_flops_per_second")
    summary["resnet50"] = {
        "trends_jax_images_per_sec": consumption, "trends_jax_step_seconds": jax_r50.get("train_step_median_seconds"),
        "trends_jax_mfu": jax_r50.get("mfu"), "trends_jax_peak_memory_bytes": jax_r50.get("peak_memory_bytes"),
        "device_kind": jax_r50.get("device_kind"), "pytorch_images_per_sec": torch_r50.get("images_per_sec"),
        "pytorch_variant": torch_r50.get("best_variant"),
        "pytorch_compile": (torch_r50.get("compiled") or {}).get("status"),
        "ratio_trends_jax_over_pytorch": ratio,
        "meets_goal": None if ratio is None else ratio >= RESNET50["goal_ratio_trends_jax_over_pytorch"],
        **RESNET50,
        "arithmetic_ceiling_images_per_sec_this_device": peak / RESNET50["training_flops_per_image"] if peak else None,
    }
  if "fashion_mnist" in parts:
    r = _results(parts, "fashion_mnist")
    summary["fashion_mnist"] = {
        **FASHION_PUBLISHED, "target_accuracy": r.get("target"),  # The published figure, but in QUICK runs.
        "accuracy_reached": r.get("best_eval_accuracy"), "target_reached": r.get("target_reached"),
        "seconds_to_target": r.get("seconds_to_target"), "step_at_target": r.get("step_at_target"),
        "stopped_by": r.get("stopped_by"), "seconds": r.get("seconds"), "images_per_sec": r.get("train_rate_per_sec")}
  if "char_lm" in parts:
    r = _results(parts, "char_lm")
    summary["char_lm"] = {"steps": r.get("last_step"), "steps_per_sec": r.get("steps_per_sec"),
                          "bits_per_char": (r.get("last_eval") or {}).get("bits_per_char"),
                          "stopped_by": r.get("stopped_by"), "seconds": r.get("seconds")}
  if "word2vec" in parts:
    words = _results(parts, "word2vec").get("loop_examples_per_sec")  # word2vec's examples are words.
    summary["word2vec"] = {"words_per_sec": words, **GENSIM_CPU,
                           "vs_gensim_cpu": words / GENSIM_CPU["gensim_words_per_sec_cpu"] if words else None}
  if "jpeg_input" in parts:
    rows = _results(parts, "jpeg_input").get("rows", [])
    by_workers = {}
    for row in rows:
      by_workers.setdefault(str(row["workers"]), {})[row["pipeline"]] = row["examples_per_sec"]
    best = {w: max(rates.values()) for w, rates in by_workers.items()}
    summary["jpeg_input"] = {
        "images_per_sec_by_workers": by_workers, "best_images_per_sec_by_workers": best,
        "resnet50_consumption_images_per_sec": consumption,
        "input_over_consumption_by_workers": {w: v / consumption for w, v in best.items()} if consumption else None}
  return summary


def read_environment(out: str) -> dict:
  path = os.path.join(out, "environment.json")  # experiments/bench/gpu_environment.py's.
  if not os.path.exists(path):
    return {"error": "not recorded (no environment.json)"}
  with open(path) as f:
    return json.load(f)


def main(out: str, names: list[str]) -> dict:
  parts = {name: read_part(out, name) for name in names}
  merged = {"date": time.strftime("%Y-%m-%d"), "quick": bool(os.environ.get("QUICK")),
            "environment": read_environment(out),
            "parts_failed": [n for n, p in parts.items() if not p["ok"]], "summary": summarize(parts), "parts": parts}
  with open(os.path.join(out, "bench_gpu.json"), "w") as f:
    json.dump(merged, f, indent=2)
  for name, part in parts.items():
    state = "ok" if part["ok"] else ("overran its cap" if part.get("timed_out") else f"failed (exit {part['exit_code']})")
    print(f"{name:16s} {state:22s} {part.get('seconds', '-')!s:>5s} s of {part.get('limit_seconds', '-')}")
  print(json.dumps(merged["summary"], indent=1))
  return merged


if __name__ == "__main__":
  if len(sys.argv) < 3 or not os.path.isdir(sys.argv[1]):
    print("error: usage: experiments/bench/gpu_summary.py OUT_DIR PART...", file=sys.stderr)
    sys.exit(2)
  main(sys.argv[1], sys.argv[2:])
