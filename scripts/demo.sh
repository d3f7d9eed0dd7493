#!/usr/bin/env bash
# The main job on the bundled example model: inspect it, convert it between our two forms and check the round
# trip, then run it on a batch of inputs. Usage: scripts/demo.sh [MODEL]
set -euo pipefail
cd "$(dirname "$0")/.."
MODELKIT_SKIP_PYTHON=1 source scripts/bootstrap.sh
model="${1:-Fixtures/models/example/example.mkit}"
swift build -c release --product modelkit >&2
bin="$(swift build -c release --show-bin-path)/modelkit"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
set -x
"$bin" --version
"$bin" inspect "$model"
"$bin" convert "$model" "$out/example.json"
"$bin" convert "$out/example.json" "$out/example.mkit"
"$bin" inspect --json "$out/example.mkit" > "$out/inspect.json"
# Fine-tune the example for one epoch (10 steps) on the data its teacher labelled, then run the result.
"$bin" finetune "$model" --data Fixtures/models/training/example-teacher.npz --loss cross-entropy --optimizer adam \
  --lr 1e-3 --epochs 1 --batch-size 50 --val-split 0.2 --output "$out/tuned.mkit" --log "$out/run.jsonl" --plot "$out/loss.svg"
"$bin" gradcheck "$out/tuned.mkit" --elements 8
# Run the example (inputs committed by Fixtures/generate/generate.py; the tests compare the outputs with PyTorch's).
"$bin" run "$model" --input Fixtures/expected/example/batch1.input.npy
"$bin" run "$model" --input Fixtures/expected/example/batch50.input.npy --output "$out/outputs.csv"
"$bin" convert "$model" "$out/example.onnx"
"$bin" run "$out/example.onnx" --input Fixtures/expected/example/batch1.input.npy --top-k 2
