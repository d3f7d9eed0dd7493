#!/usr/bin/env bash
# Crash test of checkpoints (issue 7, Specs/checkpoint.md K9–K12): fine-tunes the example model once without
# interruption, then again while killing the training process with SIGKILL at random moments (at least KILLS times,
# default 10), resuming with `--resume DIR` after each kill. After every kill the newest checkpoint must read with
# all checksums passing (no "skipping damaged" warning on resume), and every completed interrupted run must end with
# final weights bit-identical to the uninterrupted run.
#
# Usage: scripts/kill-test.sh            (builds the release binary unless MODELKIT is set)
# Environment: MODELKIT=path/to/modelkit  KILLS=10  EPOCHS=60  EVERY=7  SEED=<random>  KEEP=2  COMPRESSION=fast
# Exit status: 0 all runs identical; 1 a mismatch or a damaged checkpoint; 2 the setup is missing (no finetune).
set -euo pipefail

cd "$(dirname "$0")/.."
KILLS=${KILLS:-10}
EPOCHS=${EPOCHS:-60}
EVERY=${EVERY:-7}
KEEP=${KEEP:-2}
COMPRESSION=${COMPRESSION:-fast}
SEED=${SEED:-$(( (RANDOM << 15) | RANDOM ))}
MODEL=Fixtures/models/example/example.mkit
DATA=Fixtures/models/training/example-teacher.npz

if [[ -z "${MODELKIT:-}" ]]; then
    swift build -c release --product modelkit >&2
    MODELKIT="$(swift build -c release --show-bin-path)/modelkit"
fi
fail_setup() { echo "kill-test: $*" >&2; exit 2; }
[[ -x "$MODELKIT" ]] || fail_setup "no modelkit binary at $MODELKIT (set MODELKIT=...)"
help=$("$MODELKIT" finetune --help 2>&1) || fail_setup "'modelkit finetune' is missing from $MODELKIT; this test needs the finetune command (issues 6 and 7)"
for flag in --checkpoint-dir --checkpoint-every --keep --resume --compression --output; do
    grep -q -- "$flag" <<<"$help" || fail_setup "'modelkit finetune' has no $flag option yet (issue 7); cannot run the crash test"
done
for file in "$MODEL" "$DATA"; do [[ -f "$file" ]] || fail_setup "missing fixture $file"; done

work=$(mktemp -d "${TMPDIR:-/tmp}/modelkit-kill-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
RANDOM=$SEED
echo "kill-test: seed $SEED (rerun with SEED=$SEED), $EPOCHS epochs, checkpoint every $EVERY steps, $KILLS kills, work dir $work"

train=(finetune "$MODEL" --data "$DATA" --loss cross-entropy --optimizer adam --lr 0.001 --epochs "$EPOCHS"
       --batch-size 50 --shuffle --seed 7)

# The tensors of a model as ModelKit JSON text: shortest round-trip decimals, so equal text means equal bits.
tensors_of() {
    "$MODELKIT" convert "$1" "$work/tensors.json" >/dev/null
    awk '/^  "tensors": \[/ { keep = 1 } keep' "$work/tensors.json"
}

now() { date +%s.%N; }
"$MODELKIT" "${train[@]}" --output "$work/reference.mkit" >"$work/reference.log" 2>&1 \
    || { cat "$work/reference.log" >&2; echo "kill-test: the uninterrupted run failed" >&2; exit 1; }
tensors_of "$work/reference.mkit" >"$work/reference.tensors"
# The same run writing checkpoints (not interrupted): writing them must not change the result, and its duration
# (checkpoint writes included) sets the kill moments.
start=$(now)
"$MODELKIT" "${train[@]}" --checkpoint-dir "$work/timing-ckpt" --checkpoint-every "$EVERY" --keep "$KEEP" \
    --compression "$COMPRESSION" --output "$work/timing.mkit" >"$work/timing.log" 2>&1 \
    || { cat "$work/timing.log" >&2; echo "kill-test: the uninterrupted run with checkpoints failed" >&2; exit 1; }
duration=$(awk -v a="$start" -v b="$(now)" 'BEGIN { print b - a }')
tensors_of "$work/timing.mkit" | cmp -s - "$work/reference.tensors" \
    || { echo "kill-test: FAIL: writing checkpoints changed the final weights of an uninterrupted run" >&2; exit 1; }
echo "kill-test: uninterrupted run with checkpoints took ${duration}s"

kills=0 completed=0 attempt=0
ckpt="$work/ckpt"
while (( kills < KILLS || completed == 0 )); do
    attempt=$((attempt + 1))
    (( attempt <= 20 * KILLS )) || { echo "kill-test: no progress after $attempt attempts" >&2; exit 1; }
    resume=()
    compgen -G "$ckpt/checkpoint-*.mkit" >/dev/null && resume=(--resume "$ckpt")
    log="$work/run-$attempt.log"
    "$MODELKIT" "${train[@]}" --checkpoint-dir "$ckpt" --checkpoint-every "$EVERY" --keep "$KEEP" \
        --compression "$COMPRESSION" "${resume[@]}" --output "$work/resumed.mkit" >"$log" 2>&1 &
    pid=$!
    if (( kills < KILLS )); then
        # A moment between 2% and 20% of a whole run: short enough to land in every phase (start-up, training,
        # checkpoint writes), long enough that each attempt usually gets past at least one checkpoint.
        delay=$(awk -v d="$duration" -v r="$RANDOM" 'BEGIN { printf "%.3f", d * (0.02 + 0.18 * r / 32767) }')
        sleep "$delay"
    fi
    if (( kills < KILLS )) && kill -KILL "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null || true
        kills=$((kills + 1))
        newest=$(ls "$ckpt"/checkpoint-*.mkit 2>/dev/null | sort | tail -n 1 || true)
        if [[ -n "$newest" ]]; then
            "$MODELKIT" inspect "$newest" >"$work/inspect.log" 2>&1 \
                || { cat "$work/inspect.log" >&2; echo "kill-test: after kill $kills the newest checkpoint $newest does not read" >&2; exit 1; }
        fi
        echo "kill-test: kill $kills after ${delay}s; newest checkpoint: ${newest##*/}"
        continue
    fi
    status=0
    wait "$pid" || status=$?
    if grep -qi "skipping damaged" "$log"; then
        cat "$log" >&2; echo "kill-test: a resume found a damaged checkpoint; writes are not atomic" >&2; exit 1
    fi
    (( status == 0 )) || { cat "$log" >&2; echo "kill-test: attempt $attempt exited with status $status" >&2; exit 1; }
    completed=$((completed + 1))
    if ! tensors_of "$work/resumed.mkit" | cmp -s - "$work/reference.tensors"; then
        tensors_of "$work/resumed.mkit" | diff - "$work/reference.tensors" | head -n 5 >&2 || true
        echo "kill-test: FAIL: the run resumed after $kills kills ends with different weights than the uninterrupted run" >&2
        exit 1
    fi
    echo "kill-test: completed run $completed after $kills kills in total: final weights identical"
    rm -rf "$ckpt" "$work/resumed.mkit"
done
echo "kill-test: PASS: $kills kills, $completed completed runs, every final model bit-identical to the uninterrupted run"
