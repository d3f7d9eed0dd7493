#!/usr/bin/env bash
# Peak-memory check of issue 8: `modelkit convert` of a large safetensors file to .mkit must stay under ~1.2× its
# largest tensor above the process baseline (the input is memory-mapped and streamed, never copied whole).
#
#   scripts/peak-memory.sh [SIZE_MIB]      # default 1024: one square float32 weight of that size, plus its bias
#
# Environment: MODELKIT_BIN (a release `modelkit` to use instead of building one into .build-peak/),
# GEN_PYTHON (a python with numpy and safetensors; default /work/venv-gen/py/bin/python), PEAK_LIMIT (default 1.2),
# PEAK_TMP (where the two large files go; default $TMPDIR or /tmp: it needs 2 × SIZE_MIB free), CONVERT_FLAGS
# (extra `convert` flags for both runs, e.g. "--dtype float16" or "--compress fast").
#
# The peak is the child's maximum resident set (getrusage ru_maxrss, the same number as VmHWM). Pages of the
# mapped input count towards it once they are touched, so a copy-free conversion of a file whose data is one
# tensor measures about 1.0× that tensor; a writer that holds the whole output in memory measures about 2×.
# The baseline is the same conversion of a 4 × 4 model, so libraries and the runtime cancel out.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
python=${GEN_PYTHON:-/work/venv-gen/py/bin/python}
limit=${PEAK_LIMIT:-1.2}
bin=${MODELKIT_BIN:-}
if [[ -z $bin ]]; then
    nice -n 10 swift build -c release --scratch-path .build-peak --product modelkit >&2
    bin=.build-peak/release/modelkit
fi
work=$(mktemp -d "${PEAK_TMP:-${TMPDIR:-/tmp}}/modelkit-peak.XXXXXX")
trap 'rm -rf "$work"' EXIT

exec "$python" - "$bin" "$work" "$size_mib" "$limit" ${CONVERT_FLAGS:-} <<'PY'
import math, os, sys, time
import numpy as np
from safetensors.numpy import save_file

binary, work, size_mib, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
flags = sys.argv[5:]
side = int(math.isqrt(size_mib * (1 << 20) // 4))

def model(path, n):
    # Deterministic, non-constant values (a constant tensor could be special-cased by a writer).
    weight = (np.arange(n * n, dtype=np.uint32) % 251).astype(np.float32).reshape(n, n) / 251
    save_file({"0.weight": weight, "0.bias": np.zeros(n, dtype=np.float32)}, path)
    return weight.nbytes

def peak_kib(source, destination, n):
    """Max RSS of one `modelkit convert` child, in KiB (children are waited for one at a time)."""
    start = time.monotonic()
    pid = os.spawnv(os.P_NOWAIT, binary, [binary, "convert", source, destination, "--arch", f"linear({n},{n})"] + flags)
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"modelkit convert {source} failed with status {os.waitstatus_to_exitcode(status)}")
    return usage.ru_maxrss, time.monotonic() - start

small, big = os.path.join(work, "small.safetensors"), os.path.join(work, "big.safetensors")
model(small, 4)
largest = model(big, side)
print(f"input: {os.path.getsize(big) / 2**20:.1f} MiB, largest tensor 0.weight [{side}, {side}] float32 = "
      f"{largest / 2**20:.1f} MiB")
baseline, _ = peak_kib(small, os.path.join(work, "small.mkit"), 4)
peak, seconds = peak_kib(big, os.path.join(work, "big.mkit"), side)
above = peak * 1024 - baseline * 1024
ratio = above / largest
print(f"convert flags: {' '.join(flags) or '(none)'}")
print(f"baseline (4x4 model): {baseline / 1024:.1f} MiB; peak: {peak / 1024:.1f} MiB; above baseline: "
      f"{above / 2**20:.1f} MiB = {ratio:.3f}x the largest tensor (limit {limit}x); convert took {seconds:.1f} s")
print(f"output: {os.path.getsize(os.path.join(work, 'big.mkit')) / 2**20:.1f} MiB")
if ratio > limit:
    sys.exit(f"FAIL: peak memory above baseline is {ratio:.3f}x the largest tensor, over the {limit}x limit")
print("ok")
PY
