#!/usr/bin/env bash
# Fills the carry folder for experiments/bench/bench_gpu.sh on the GPU machine (Python 3.12, Linux
# x86_64, no network; it has jax with CUDA, flax, optax, orbax, PyTorch, torchvision and timm):
#
#   experiments/bench/gpu_wheels.sh [CARRY_DIR]        # default: carry; run here, with trends_jax's data installed
#
# CARRY_DIR/wheels: exactly the wheels the machine lacks. pip resolves trends_jax's needs
# (gpu_requirements.txt) and, apart, what the machine already has (GPU_HAS below), both for Python
# 3.12; the difference is downloaded with --no-deps at the resolved versions. pyarrow (55 MB) is
# left out: tensorflow-datasets declares it but imports it only for Arrow/Parquet files, which
# trends_jax never reads. OpenCV (the fast JPEG path's resizer) and gensim are not carried either
# (docs/gpu.md: sizes).
# CARRY_DIR/data: Debian's Fashion-MNIST files as .xz, shakespeare_char and w2v_corpus/small
# prepared here, and gensim's three word-vector evaluation files (experiments/bench/gpu_data.py).
# The whole folder must stay under 64 MiB, what travels with the repository: over that, exit 2.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
carry=${1:-carry}
python=${PYTHON:-python3}
budget=$((64 * 1024 * 1024))
# The GPU machine's own packages (their dependencies follow in the resolution).
GPU_HAS="jax flax optax orbax-checkpoint huggingface_hub safetensors pyyaml pillow filelock sympy networkx jinja2
  fsspec typing_extensions"
SKIP="pyarrow"
target=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux2014_x86_64
  --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf "$carry/wheels" "$carry/data"
mkdir -p "$carry/wheels" "$carry/data"

# promise (a tensorflow-datasets dependency) is published only as source: built first.
"$python" -m pip wheel --no-deps -q -w "$tmp/built" promise
# shellcheck disable=SC2086  # The package names are split on purpose.
printf '%s\n' $GPU_HAS >"$tmp/has.txt"
resolve() {  # requirements file, report file
  "$python" -m pip install --dry-run --ignore-installed -q --find-links "$tmp/built" "${target[@]}" \
    --target "$tmp/target" --report "$2" -r "$1" 2> >(grep -v "is ignored" >&2)
}
resolve "$tmp/has.txt" "$tmp/has.json"
cat "$tmp/has.txt" experiments/bench/gpu_requirements.txt >"$tmp/need.txt"
resolve "$tmp/need.txt" "$tmp/need.json"
"$python" - "$tmp/has.json" "$tmp/need.json" "$SKIP" >"$tmp/missing.txt" <<'EOF'
import json, sys

def resolved(path):
  with open(path) as f:
    return {i["metadata"]["name"].lower().replace("_", "-"): i["metadata"]["version"] for i in json.load(f)["install"]}

has, need, skip = resolved(sys.argv[1]), resolved(sys.argv[2]), set(sys.argv[3].split())
print("\n".join(f"{name}=={version}" for name, version in sorted(need.items()) if name not in has and name not in skip))
EOF
"$python" -m pip download -q --no-deps -d "$carry/wheels" --find-links "$tmp/built" "${target[@]}" \
  -r "$tmp/missing.txt" 2> >(grep -v "is ignored" >&2)

mkdir -p "$carry/data/fashion-mnist"
for file in "$("$python" -c 'from trends_jax.data import fashion_mnist; print(fashion_mnist.DEBIAN_DIR)')"/*-ubyte.gz; do
  name=$(basename "$file" .gz)
  gzip -dc "$file" | xz -9e -T1 >"$carry/data/fashion-mnist/$name.xz"
done
"$python" experiments/prepare_data.py --datasets=shakespeare_char,w2v_corpus/small --data_dir="$carry/data/tfds" >/dev/null
rm -rf "$carry/data/tfds/downloads"
evals="$carry/data/word_eval"
mkdir -p "$evals"
for name in questions-words wordsim353 simlex999; do
  cp "$("$python" -c 'import sys; from trends_jax import data; print(data.word_eval_file(sys.argv[1]))' "$name")" "$evals/"
done

(cd "$carry" && find . -type f -printf '%s %p\n' | sort -k2)
total=$(find "$carry" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
echo "$(find "$carry/wheels" -name '*.whl' | wc -l) wheels; $total bytes in $carry (budget $budget)"
if [ "$total" -gt "$budget" ]; then
  echo "error: $carry holds $total bytes, over the 64 MiB ($budget) that travel with the repository" >&2
  exit 2
fi
