#!/usr/bin/env bash
# Regenerates Sources/ModelKitInterop/ONNX/onnx-subset.pb.swift from onnx-subset.proto.
#
# The package depends only on the SwiftProtobuf *runtime*; the generated code is committed so that no build (and no
# CI run) needs protoc or swift-protobuf's build plugin. Run this only after editing onnx-subset.proto.
#
# Versions the committed file was generated with (keep them in step with Package.resolved):
#   protoc           3.21.12 (Debian 12 `protobuf-compiler`)
#   protoc-gen-swift 1.39.0  (built from the swift-protobuf 1.39.0 checkout; the runtime in Package.resolved)
#
# Usage: scripts/generate-onnx-proto.sh [PATH-TO-protoc-gen-swift]
# Without an argument the plugin is built once into /tmp/swift-protobuf-<version> (about 75 s on 2 cores).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/Sources/ModelKitInterop/ONNX"
version="1.39.0"

if ! command -v protoc >/dev/null 2>&1; then
  echo "generate-onnx-proto: protoc is missing; install it with: sudo apt-get install -y protobuf-compiler" >&2
  exit 1
fi

plugin="${1:-}"
if [ -z "$plugin" ]; then
  work="/tmp/swift-protobuf-$version"
  plugin="$work/.build/release/protoc-gen-swift"
  if [ ! -x "$plugin" ]; then
    checkout="$root/.build/checkouts/swift-protobuf"
    if [ ! -d "$checkout" ]; then
      (cd "$root" && swift package resolve)
    fi
    resolved="$(cd "$checkout" && git describe --tags 2>/dev/null || echo unknown)"
    if [ "$resolved" != "$version" ]; then
      echo "generate-onnx-proto: the swift-protobuf checkout is $resolved, this script expects $version;" \
           "update \$version here together with Package.resolved" >&2
      exit 1
    fi
    rm -rf "$work"
    cp -r "$checkout" "$work"
    rm -rf "$work/.build"
    (cd "$work" && swift build -c release --product protoc-gen-swift)
  fi
fi

echo "protoc: $(protoc --version); protoc-gen-swift: $("$plugin" --version)" >&2
cd "$dir"
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Internal --swift_out=. onnx-subset.proto
echo "wrote $dir/onnx-subset.pb.swift" >&2
