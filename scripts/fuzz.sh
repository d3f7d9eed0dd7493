#!/usr/bin/env bash
# Fuzzes every reader with libFuzzer (issue 8): builds the Fuzz/ package with AddressSanitizer, seeds each target's
# corpus from Fixtures/, and runs the targets one after another.
#
#   scripts/fuzz.sh                      # every target, FUZZ_SECONDS (default 60) each
#   FUZZ_SECONDS=600 scripts/fuzz.sh npy gguf
#   scripts/fuzz.sh --list               # the target names
#   scripts/fuzz.sh --replay mkit FILE   # runs one input (a crash file) through a target
#
# Exits non-zero after the run when any target found a crash, leak, timeout or out-of-memory (the other targets still
# run); the input that caused it is saved as
# Fuzz/artifacts/<target>/crash-* (or leak-, timeout-, oom-). Minimize it with
#   Fuzz/.build/release/fuzz-<target> -minimize_crash=1 -runs=100000 FILE
# and add it to Fixtures/malformed/<format>/ with a regression test.
#
# The machine is shared: the fuzzers run at the lowest priority, one at a time, with a 2 GiB memory cap and a 10 s
# per-input timeout. Corpora grow in Fuzz/.corpus/<target>/ (not committed); a summary line per target goes to
# stdout and to Fuzz/results.tsv (target, seconds, executions, executions/s, corpus size, coverage, outcome).
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(mkit mkit-json onnx safetensors safetensors-index npy npz pt pickle gguf arch csv json-input keras-config keras)
seconds=${FUZZ_SECONDS:-60}
build_flags=(-c release --package-path Fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing)
fuzz_flags=(-rss_limit_mb=2048 -timeout=10 -max_len=65536 -print_final_stats=1)
bin=Fuzz/.build/release

case "${1:-}" in
    --list) printf '%s\n' "${targets[@]}"; exit 0 ;;
    --replay)
        [[ $# -eq 3 ]] || { echo "usage: scripts/fuzz.sh --replay TARGET FILE" >&2; exit 2; }
        nice -n 19 swift build "${build_flags[@]}" --product "fuzz-$2" >&2
        exec "$bin/fuzz-$2" "${fuzz_flags[@]}" "$3" ;;
esac
if [[ $# -gt 0 ]]; then targets=("$@"); fi
for target in "${targets[@]}"; do
    [[ -d "Fuzz/Sources/fuzz-$target" ]] || { echo "no fuzz target '$target' (scripts/fuzz.sh --list)" >&2; exit 2; }
done

echo "building the fuzz targets (release, -sanitize=fuzzer,address)..." >&2
# SwiftPM can keep a stale build plan for a path dependency (a source file added to the main package is then not
# compiled); touching the manifest makes it plan again.
touch Fuzz/Package.swift
nice -n 19 swift build "${build_flags[@]}" 2>&1 | grep -v "asan_extra_spill" >&2
Fuzz/seed-corpora.sh >/dev/null

[[ -f Fuzz/results.tsv ]] || printf 'date\ttarget\tseconds\texecutions\texec_per_s\tcorpus\tcoverage\toutcome\n' > Fuzz/results.tsv
status=0
for target in "${targets[@]}"; do
    corpus=Fuzz/.corpus/$target
    artifacts=Fuzz/artifacts/$target
    log=Fuzz/.logs/$target.log
    mkdir -p "$corpus" "$artifacts" Fuzz/.logs
    echo "fuzz-$target: ${seconds}s" >&2
    start=$(date +%s)
    outcome=ok
    # The first folder collects new inputs; the seeds are read only.
    nice -n 19 "$bin/fuzz-$target" "${fuzz_flags[@]}" -max_total_time="$seconds" \
        -artifact_prefix="$artifacts/" "$corpus" "Fuzz/.seeds/$target" > "$log" 2>&1 || outcome=FAILED
    elapsed=$(( $(date +%s) - start ))
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    coverage=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    inputs=$(find "$corpus" -type f | wc -l)
    rate=$(( ${executions:-0} / (elapsed > 0 ? elapsed : 1) ))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$target" "$elapsed" "${executions:-0}" "$rate" \
        "$inputs" "${coverage:-?}" "$outcome" | tee -a Fuzz/results.tsv
    if [[ $outcome != ok ]]; then
        status=1
        grep -E '^==[0-9]+==ERROR|^SUMMARY|Test unit written|^Fatal error|ERROR: libFuzzer' "$log" | head -5 >&2 || true
        echo "fuzz-$target failed; full log: $log" >&2
    fi
done
exit $status
