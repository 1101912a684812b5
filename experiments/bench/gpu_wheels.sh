#!/usr/bin/env bash
# Fills the carry folder for experiments/bench/bench_gpu.sh on the GPU machine (Python 3.12, Linux
# x86_64, no network; its own packages are listed in experiments/bench/gpu_machine_packages.txt):
#
#   experiments/bench/gpu_wheels.sh [CARRY_DIR]        # default: carry/ in this checkout; run here, with trends_jax's data installed
#
# CARRY_DIR/wheels: exactly the wheels the machine lacks. pip resolves trends_jax's needs
# (gpu_requirements.txt) for Python 3.12 beside the machine's own jax and numpy versions; what the
# machine's package list names is dropped, the rest is downloaded with --no-deps at the resolved
# versions. gensim is not carried (docs/gpu.md).
# CARRY_DIR/data: Debian's Fashion-MNIST files as .xz, shakespeare_char and w2v_corpus/small
# prepared here, and gensim's three word-vector evaluation files (experiments/bench/gpu_data.py).
# The whole folder must stay under 64 MiB, what travels with the repository: over that, exit 2.
set -euo pipefail
fail() { echo "error: $*" >&2; exit 2; }
[ $# -le 1 ] || fail "usage: experiments/bench/gpu_wheels.sh [CARRY_DIR]"
# The folders as the caller named them, before the cd below.
repo=$(realpath "$(dirname "$0")/../..")
carry=$(realpath -m "${1:-$repo/carry}")
python=${PYTHON:-python3}
[[ $python == */* ]] && python=$(realpath -ms "$python")  # -s: a venv's python is a link to keep.
# Only this script's own two folders are ever replaced in CARRY_DIR.
if [ -e "$carry" ]; then
  [ -d "$carry" ] || fail "CARRY_DIR $carry is not a folder; pass a new folder or an earlier carry folder"
  others=$(find "$carry" -mindepth 1 -maxdepth 1 ! -name wheels ! -name data -printf '%f ')
  others=${others% }
  [ -z "$others" ] || fail "CARRY_DIR $carry holds more than wheels/ and data/ ($others); pass a new folder or an earlier carry folder"
fi
cd "$repo"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
budget=$((64 * 1024 * 1024))
# The versions the machine's jax and numpy are, so that what is carried resolves against them.
GPU_PINS="jax==0.11.2 jaxlib==0.11.2 numpy==2.5.2"
# pip matches each manylinux tag exactly: the glibc levels that wheels of these packages are built for.
platforms=(manylinux1_x86_64 manylinux2014_x86_64)
for glibc in 17 24 27 28; do platforms+=("manylinux_2_${glibc}_x86_64"); done
target=(--only-binary=:all: --python-version 3.12 --implementation cp "${platforms[@]/#/--platform=}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Built aside and moved into place at the end: a run that fails leaves the earlier carry folder whole.
final=$carry
carry=$tmp/carry
mkdir -p "$carry/wheels" "$carry/data"

# pip 23.2 (seen here) checks the packages' Requires-Python against the Python it runs on, not the
# --python-version asked for (jax 0.11 needs 3.12); pip 26.3 does not: the resolution runs on a current pip.
"$python" -m venv "$tmp/pip" && "$tmp/pip/bin/python" -m pip install -q --upgrade pip 2> >(grep -v "is ignored" >&2)
pip=("$tmp/pip/bin/python" -m pip)
# promise (a tensorflow-datasets dependency) is published only as source: built first.
"${pip[@]}" wheel --no-deps -q -w "$tmp/built" promise
# shellcheck disable=SC2086  # The requirements are split on purpose.
printf '%s\n' $GPU_PINS | cat - experiments/bench/gpu_requirements.txt >"$tmp/need.txt"
"${pip[@]}" install --dry-run --ignore-installed -q --find-links "$tmp/built" "${target[@]}" \
  --target "$tmp/target" --report "$tmp/need.json" -r "$tmp/need.txt" 2> >(grep -v "is ignored" >&2)
"$python" experiments/bench/gpu_missing.py "$tmp/need.json" experiments/bench/gpu_machine_packages.txt \
  >"$tmp/missing.txt"
"${pip[@]}" download -q --no-deps -d "$carry/wheels" --find-links "$tmp/built" "${target[@]}" \
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
echo "$(find "$carry/wheels" -name '*.whl' | wc -l) wheels; $total bytes (budget $budget)"
[ "$total" -le "$budget" ] ||
  fail "the carry folder would hold $total bytes, over the 64 MiB ($budget) that travel with the repository; $final is left as it was"
mkdir -p "$final"
rm -rf "${final:?}/wheels" "${final:?}/data"
mv "$carry/wheels" "$carry/data" "$final/"
echo "$final is ready"
