#!/usr/bin/env bash
# `make bench`: ModelKit next to PyTorch, onnxruntime and NumPy, in one run, on the same data. See Benchmarks/README.md.
#
# Environment (all optional):
#   QUICK=1          smoke run: short time boxes, one round, a 256 MiB file for the file rows, checkpoint `best`
#                    skipped when a sample predicts more than 10 s for it
#   GROUPS=a,b       only these groups (default all): infer (the inference cases and the sgemm), train (training
#                    steps, issue 6), checkpoint (checkpoint write/read, issue 7), files (safetensors/.mkit rows).
#                    Read from the environment (bash keeps its own $GROUPS), or BENCH_GROUPS.
#   CASES="a b"      only these cases, in whichever group they belong to: example-1 example-50 example-1024 wide-1
#                    wide-256 sgemm-2048 | train-example-50-sgd train-example-50-adam train-wide-256-adam |
#                    checkpoint-wide (the file rows have no case names: FILES=0 or GROUPS leave them out)
#   FILES=0          skip the safetensors/.mkit file rows
#   ROUNDS=N         rounds over the cases (default 2, QUICK 1); each engine keeps its best median
#   BENCH_PYTHON=…   a Python that already has Benchmarks/requirements.txt (skips the venv)
#   MODELKIT_BENCH_SCRATCH=DIR   SwiftPM scratch path (default .build)
#   KEEP_CORETYPE=1  keep an inherited OPENBLAS_CORETYPE (default: unset it, so that ModelKit and NumPy's bundled
#                    OpenBLAS each choose their kernels for this CPU, as they do for a user who never set it)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

quick="${QUICK:-0}"; [ "$quick" = 1 ] || quick=0
if [ "$quick" = 1 ]; then budget=0.2; rounds="${ROUNDS:-1}"; repetitions=1; layers=1
else budget=1.0; rounds="${ROUNDS:-2}"; repetitions=3; layers=4; fi
infer_cases="example-1 example-50 example-1024 wide-1 wide-256 sgemm-2048"
train_cases="train-example-50-sgd train-example-50-adam train-wide-256-adam"
checkpoint_cases="checkpoint-wide"
# bash shadows an inherited GROUPS with the user's group ids; printenv reads the inherited value.
groups="${BENCH_GROUPS:-$(printenv GROUPS || true)}"
groups=" $(echo "${groups:-infer train checkpoint files}" | tr ',' ' ') "
for group in $groups; do
  case "$group" in infer|train|checkpoint|files) ;; *) echo "bench: unknown group '$group' (infer, train, checkpoint, files)" >&2; exit 2;; esac
done
# The cases of the selected groups, narrowed to CASES when given.
selected() {
  local group="$1" list="$2" name out=""
  [[ "$groups" == *" $group "* ]] || return 0
  for name in $list; do
    if [ -z "${CASES:-}" ] || [[ " $CASES " == *" $name "* ]]; then out="$out $name"; fi
  done
  echo $out
}
cases="$(selected infer "$infer_cases")"
trains="$(selected train "$train_cases")"
checkpoints="$(selected checkpoint "$checkpoint_cases")"
for name in ${CASES:-}; do
  [[ " $infer_cases $train_cases $checkpoint_cases " == *" $name "* ]] || { echo "bench: unknown case '$name'" >&2; exit 2; }
done
run_files=1
{ [ "${FILES:-1}" = 0 ] || [[ "$groups" != *" files "* ]]; } && run_files=0
if [ "$quick" = 1 ]; then best_limit=10; else best_limit=60; fi
scratch="${MODELKIT_BENCH_SCRATCH:-.build}"

log() { echo "bench: $*" >&2; }

# 1. modelkit-bench, release mode.
log "building modelkit-bench (release, scratch path $scratch)"
swift build -c release --product modelkit-bench --scratch-path "$scratch" >&2
bench="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/modelkit-bench"

# 2. The peers, in a venv made (or reused) here.
if [ -n "${BENCH_PYTHON:-}" ]; then
  python="$BENCH_PYTHON"
else
  venv="$root/.venv-bench"
  python="$venv/bin/python"
  stamp="$venv/.requirements.sha256"
  want="$(sha256sum Benchmarks/requirements.txt | cut -d' ' -f1)"
  if [ ! -x "$python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "setting up $venv with Benchmarks/requirements.txt (the first time downloads torch)"
    [ -x "$python" ] || python3 -m venv "$venv"
    "$python" -m pip install --quiet --upgrade pip >&2
    # The CPU-only torch wheel avoids ~3 GB of CUDA packages; when its index is unreachable, PyPI's torch is used.
    torch_pin="$(grep -E '^torch==' Benchmarks/requirements.txt)"
    "$python" -m pip install --quiet --timeout 15 --retries 1 --index-url https://download.pytorch.org/whl/cpu "$torch_pin" >&2 \
      || log "the PyTorch CPU index is unreachable or lacks $torch_pin; taking torch from PyPI"
    "$python" -m pip install --quiet -r Benchmarks/requirements.txt >&2
    echo "$want" > "$stamp"
  fi
fi

# 3. Shared data, generated once for all engines; deleted at exit.
work="$(mktemp -d "${TMPDIR:-/tmp}/modelkit-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
results="$work/results.jsonl"
: > "$results"
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
  if [ "${KEEP_CORETYPE:-0}" = 1 ]; then
    log "note: keeping OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE for ModelKit and NumPy (KEEP_CORETYPE=1)"
  else
    log "note: unsetting the inherited OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE so that each library chooses its kernels (KEEP_CORETYPE=1 keeps it)"
    unset OPENBLAS_CORETYPE
  fi
fi
log "writing the shared weights, inputs and reference outputs"
prepare_args=()
[ -n "$trains$checkpoints" ] && prepare_args+=(--train)
"$python" Benchmarks/peers.py prepare "$work/data" "${prepare_args[@]}"

# 4. The cases, modelkit and the peers one after the other per case, so that both see the same machine load.
status=0
for round in $(seq 1 "$rounds"); do
  for case in $cases; do
    log "round $round/$rounds: $case"
    "$bench" "$work/data" --case "$case" --budget "$budget" >> "$results" || status=1
    engines=(--engine torch --engine onnxruntime --engine numpy)
    "$python" -W ignore Benchmarks/peers.py run "$work/data" --case "$case" --budget "$budget" "${engines[@]}" >> "$results" || status=1
  done
  # Training steps (issue 6): modelkit's Trainer, then PyTorch's default, foreach=False and fused optimizers.
  for case in $trains; do
    log "round $round/$rounds: $case"
    "$bench" "$work/data" --case "$case" --budget "$budget" >> "$results" || status=1
    "$python" -W ignore Benchmarks/peers.py train "$work/data" --case "$case" --budget "$budget" >> "$results" || status=1
  done
done

# Checkpoint rows (issue 7), once (each write is seconds long): modelkit at none/fast/best, torch.save/load, gzip -6.
for case in $checkpoints; do
  log "$case: modelkit checkpoints at none, fast, best (best skipped if predicted over ${best_limit} s)"
  "$bench" "$work/data" --case "$case" --repetitions "$repetitions" --best-limit "$best_limit" >> "$results" || status=1
  log "$case: torch.save, torch.load, gzip -6"
  "$python" -W ignore Benchmarks/peers.py checkpoint "$work/data" --repetitions "$repetitions" >> "$results" || status=1
done

# 5. The file rows (issue 4): a 1 GiB safetensors file, converted both ways, next to safetensors and cp.
if [ "$run_files" = 1 ]; then
  log "file rows: writing a $((layers * 256)) MiB safetensors file"
  mkdir -p "$work/files"
  "$python" Benchmarks/peers.py files "$work/files" --repetitions "$repetitions" --layers "$layers" >> "$results" || status=1
  "$bench" --files "$work/files" --repetitions "$repetitions" --budget "$budget" >> "$results" || status=1
  rm -rf "$work/files"
fi

# 6. The table.
date="$(date +%Y-%m-%d)"
host="$(hostname -s 2>/dev/null || hostname)"
cpu="$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//') ($(nproc 2>/dev/null || echo ?) cores)"
mkdir -p Benchmarks/results
# A full run is `<date>-<host>.md` and `latest.md`; a run narrowed by GROUPS or CASES gets its own name and leaves
# both alone, so that re-running a few rows never replaces a full table.
label=""
if [ -n "${CASES:-}" ] || [ "$groups" != " infer train checkpoint files " ]; then
  if [ -n "${CASES:-}" ]; then
    label="-$(echo $cases $trains $checkpoints | tr ' ' '+')"
    [ "$run_files" = 1 ] && label="$label+files"
  else
    label="-$(echo $groups | tr ' ' '+')"
  fi
  [ "$label" = "-" ] && label="-empty"
  [ ${#label} -gt 60 ] && label="-partial"
fi
table="Benchmarks/results/$date-$host$label.md"
report_args=(--host "$host" --date "$date" --cpu "$cpu" --load "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || true)"
             --coretype "${OPENBLAS_CORETYPE:-}")
[ "$quick" = 1 ] && report_args+=(--quick)
"$python" Benchmarks/report.py "$results" "${report_args[@]}" > "$table.tmp" || status=1
mv "$table.tmp" "$table"
cat "$table"
if [ -z "$label" ]; then
  cp "$table" Benchmarks/results/latest.md
  log "saved $table and Benchmarks/results/latest.md"
else
  log "saved $table (a partial run: latest.md is left as it was)"
fi
exit "$status"
