#!/usr/bin/env bash
# Runs every test: installs what is missing, builds, runs `swift test` (XCTest).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
if [ "${MODELKIT_SKIP_PYTHON:-0}" != 1 ]; then source scripts/python-env.sh; fi
swift build --build-tests
mkdir -p .build
set +e
# Passing cases are not echoed one by one; failures, skips and the summary are.
swift test --skip-build --disable-swift-testing 2>&1 | tee .build/test-output.txt \
  | grep -vE "^Test Case '.*' (started|passed)|^Test Suite '.*' (started|passed)"
status=${PIPESTATUS[0]}
set -e
[ "$status" = 0 ] || exit "$status"
# Crash safety of checkpoints (Specs/checkpoint.md K9–K12): SIGKILL at 10 random moments, resume, identical weights.
MODELKIT="$(swift build --show-bin-path)/modelkit" KILLS=10 EPOCHS=20 scripts/kill-test.sh
# Resource limits (Specs/security.md): converting a 1 GiB safetensors file peaks under 1.2x its largest tensor
# above the process baseline. Needs numpy + safetensors from the interop venv to write the input.
if [ -n "${MODELKIT_PYTHON:-}" ]; then
  MODELKIT_BIN="$(swift build --show-bin-path)/modelkit" GEN_PYTHON="$MODELKIT_PYTHON" scripts/peak-memory.sh 1024
fi
