#!/usr/bin/env bash
# GPU evidence in one run of under 9 minutes (docs/gpu.md): each part is capped with `timeout`, a
# part that fails or overruns is recorded with the end of its log, and the others go on.
#   resnet50        trends_jax ResNet-50, bfloat16, synthetic 224² data, batch 256 (experiments/bench/steps.py)
#   torch_resnet50  torchvision ResNet-50, AMP bf16, channels_last, torch.compile if it compiles in 60 s
#   fashion_mnist   configs/fashion_mnist.py:resnet18 with crops and flips until test accuracy 0.949 or the cap
#   char_lm         configs/char_lm.py for a fixed 1,500 steps: steps/s and bits per character
#   word2vec        configs/word2vec_skipgram.py:small, its own training loop: words/s
#   jpeg_input      experiments/bench/input.py on generated 500×375 JPEGs with 0, 4, 8 and 16 workers
#
#   experiments/bench/bench_gpu.sh OUT_DIR [CARRY_DIR]      # OUT_DIR/bench_gpu.json
#   QUICK=1 experiments/bench/bench_gpu.sh OUT_DIR          # the same, tiny: checks the script on a CPU
#   PARTS="char_lm word2vec" LIMITS="char_lm=30" ...        # some parts only; other caps (seconds)
#
# CARRY_DIR (default: carry/ in this checkout) is experiments/bench/gpu_wheels.sh's output: the wheels the machine
# lacks, installed with pip --no-index --no-deps where trends_jax's imports fail, and the data.
set -uo pipefail
fail() { echo "error: $*" >&2; exit 2; }
one_of() { [[ " $2 " == *" $1 "* ]]; }  # word, then a space-separated list
# Every input is checked before anything is installed or written.
[ $# -ge 1 ] && [ $# -le 2 ] || fail "usage: experiments/bench/bench_gpu.sh OUT_DIR [CARRY_DIR]"
# The folders as the caller named them, before the cd below.
out=$(realpath -m "$1")
repo=$(realpath "$(dirname "$0")/../..")
carry=$(realpath -m "${2:-$repo/carry}")
python=${PYTHON:-python3}
[[ $python == */* ]] && python=$(realpath -ms "$python")  # -s: a venv's python is a link to keep.
cd "$repo" || exit 2
# trends_jax from this checkout: the GPU machine has no network to `pip install -e .` it.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# A rerun into the same folder would replace the earlier run's results part by part.
if [ -e "$out" ] && { [ ! -d "$out" ] || [ -n "$(ls -A "$out")" ]; }; then
  fail "OUT_DIR $out already exists and is not an empty folder; pass a new one, so that no earlier results are replaced"
fi
all_parts="resnet50 torch_resnet50 fashion_mnist char_lm word2vec jpeg_input"
parts=${PARTS:-$all_parts}
for part in $parts; do
  one_of "$part" "$all_parts" || fail "unknown part '$part' in PARTS; known: $all_parts"
done
for override in ${LIMITS:-}; do
  one_of "${override%%=*}" "$all_parts" ||
    fail "unknown part '${override%%=*}' in LIMITS; write part=seconds with a part of: $all_parts"
  [[ $override =~ ^[a-z0-9_]+=[1-9][0-9]*$ ]] || fail "LIMITS entry '$override' must be part=seconds, e.g. fashion_mnist=200"
done
[[ ${FMNIST_EPOCHS:-12} =~ ^[1-9][0-9]*$ ]] || fail "FMNIST_EPOCHS must be a whole number of epochs > 0, got '$FMNIST_EPOCHS'"
"$python" -c "" 2>/dev/null || fail "PYTHON=$python cannot be run; set PYTHON to the machine's Python"
if ! "$python" -c "import ml_collections, tensorflow_datasets, grain, tensorboardX, matplotlib" >/dev/null 2>&1; then
  compgen -G "$carry/wheels/*.whl" >/dev/null ||
    fail "$python lacks trends_jax's packages and $carry/wheels holds no wheels; fill $carry with experiments/bench/gpu_wheels.sh"
  # Into a folder of its own, ahead on the path: the machine's own packages stay as they are.
  site=$(mktemp -d)
  "$python" -m pip install -q --no-index --no-deps --no-compile --target "$site" "$carry"/wheels/*.whl \
    >"$site.log" 2>&1 ||
    fail "cannot install the wheels in $carry/wheels ($(tail -n1 "$site.log")); fill it for this Python with experiments/bench/gpu_wheels.sh"
  export PYTHONPATH="$PYTHONPATH:$site"
fi
mkdir -p "$out"
data_dir="$out/tfds"
# On the GPU machine, a JAX without its GPU ends the run here, before the parts spend its minutes.
require_gpu=--require_gpu
[ -n "${QUICK:-}" ] && require_gpu=
# shellcheck disable=SC2086  # Empty in QUICK runs.
"$python" experiments/bench/gpu_environment.py "$out" $require_gpu || exit 2
# The word-vector evaluation files travel without gensim: see experiments/bench/gpu_data.py.
if ! "$python" -c "import gensim" >/dev/null 2>&1; then
  export TRENDS_JAX_WORD_EVAL_DIR="$carry/data/word_eval"
fi
# The carried data is written (about 30 s of one core) while the parts that read none run.
data_parts="fashion_mnist char_lm word2vec"
data_pid=
needs_data=
for part in $parts; do
  one_of "$part" "$data_parts" && needs_data=1
done
if [ -d "$carry/data" ] && [ -n "$needs_data" ]; then
  "$python" experiments/bench/gpu_data.py --carry="$carry" --data_dir="$data_dir" >"$out/data.log" 2>&1 &
  data_pid=$!
fi
data_ready() {
  [ -n "$data_pid" ] || return 0
  wait "$data_pid" ||
    echo "error: cannot prepare the carried data (see $out/data.log); the parts that read it will fail" >&2
  data_pid=
}

# Each part: its cap in seconds and its command; QUICK: tiny sizes that run on a CPU.
declare -A limit
declare -A command
if [ -n "${QUICK:-}" ]; then
  limit=([resnet50]=300 [torch_resnet50]=120 [fashion_mnist]=150 [char_lm]=90 [word2vec]=90 [jpeg_input]=120)
  # The 5-epoch warm-up at batch 2 would outlast the schedule that steps.py builds.
  r50="--config=configs/imagenet2012.py:resnet50 --synthetic --quick --config.batch_size=2 --config.eval_batch_size=2
    --config.optimizer.warmup_steps=1 --loop_steps=0"
  torch_r50="--batch_size=2 --steps=2 --warmup=1 --compile_timeout=15"
  fmnist_run="--max_seconds=100 --target=0.05"
  fmnist_train="--config.batch_size=16 --config.num_epochs=0
    --config.num_train_steps=30 --config.eval_every_steps=15 --config.log_every_steps=5 --config.checkpoint_every_steps=30
    --config.dataset.eval_split=test[:1000] --config.optimizer.warmup_steps=2"
  char_run="--train_config=configs/char_lm.py:quick --max_seconds=60"
  char_train=""
  w2v="--config=configs/word2vec_skipgram.py:quick --quick"
  jpeg="--quick --workers=0,1"
else
  limit=([resnet50]=100 [torch_resnet50]=110 [fashion_mnist]=170 [char_lm]=50 [word2vec]=40 [jpeg_input]=50)
  r50="--config=configs/imagenet2012.py:resnet50 --synthetic --config.batch_size=256 --config.eval_batch_size=256
    --steps=30 --warmup=5 --input_batches=2 --loop_steps=0"
  torch_r50="--batch_size=256 --steps=30 --warmup=5 --compile_timeout=60"
  # 12 epochs: a cosine schedule that ends inside the cap, where the recipe's 30 would not.
  fmnist_run="--max_seconds=145 --target=0.949"
  fmnist_train="--config.num_epochs=${FMNIST_EPOCHS:-12} --config.eval_every_steps=469
    --config.checkpoint_every_steps=100000"
  char_run="--train_config=configs/char_lm.py --max_seconds=40"
  char_train="--config.num_train_steps=1500
    --config.eval_every_steps=500 --config.checkpoint_every_steps=100000"
  w2v="--config=configs/word2vec_skipgram.py:small --loop_steps=2000 --loop_repeats=1"
  jpeg="--workers=0,4,8,16 --rounds=1 --batches=20"
fi
for override in ${LIMITS:-}; do  # Checked above.
  limit[${override%%=*}]=${override#*=}
done

run_part() {  # name, then the command; leaves OUT_DIR/<name>.{log,status} and OUT_DIR/<name>/
  local name=$1 start=$SECONDS code
  shift
  rm -rf "${out:?}/$name"
  echo "== $name (at most ${limit[$name]} s)"
  timeout --kill-after=10 "${limit[$name]}" "$@" >"$out/$name.log" 2>&1
  code=$?
  echo "$code $((SECONDS - start)) ${limit[$name]}" >"$out/$name.status"
  echo "   exit $code after $((SECONDS - start)) s ($SECONDS s in all)"
}

for part in $parts; do
  one_of "$part" "$data_parts" && data_ready
  case $part in
    resnet50)  # shellcheck disable=SC2086  # The arguments are split on purpose.
      run_part resnet50 "$python" experiments/bench/steps.py --workdir="$out/resnet50" $r50 ;;
    torch_resnet50)  # shellcheck disable=SC2086
      run_part torch_resnet50 "$python" experiments/bench/torch_resnet50.py --workdir="$out/torch_resnet50" $torch_r50 ;;
    fashion_mnist)  # The recipe with pad-4 crops and flips for training (the config's ',augment').
      # shellcheck disable=SC2086
      run_part fashion_mnist "$python" experiments/bench/train_run.py --workdir="$out/fashion_mnist" \
        --train_config=configs/fashion_mnist.py:resnet18,augment $fmnist_run -- \
        --config.dataset.data_dir="$data_dir" $fmnist_train ;;
    char_lm)  # shellcheck disable=SC2086
      run_part char_lm "$python" experiments/bench/train_run.py --workdir="$out/char_lm" $char_run -- \
        --config.dataset.data_dir="$data_dir" $char_train ;;
    word2vec)  # shellcheck disable=SC2086
      run_part word2vec "$python" experiments/bench/steps.py --workdir="$out/word2vec" $w2v \
        --config.dataset.data_dir="$data_dir" ;;
    jpeg_input)  # Against the rate ResNet-50 consumed above, where that part got one.
      consumed=$("$python" -c "import json,sys; print(json.load(open(sys.argv[1]))['examples_per_sec'])" \
        "$out/resnet50/results.json" 2>/dev/null || echo 3000)
      # shellcheck disable=SC2086
      run_part jpeg_input "$python" experiments/bench/input.py --workdir="$out/jpeg_input" --pipelines=jpeg \
        --accelerator_images_per_sec="$consumed" $jpeg ;;
  esac
done

# shellcheck disable=SC2086
"$python" experiments/bench/gpu_summary.py "$out" $parts
echo "$out/bench_gpu.json: $SECONDS s in all"
