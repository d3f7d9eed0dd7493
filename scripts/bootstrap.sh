#!/usr/bin/env bash
# Installs what ModelKit needs on a fresh Debian machine that has only the Swift toolchain.
# Sourced by scripts/demo.sh and scripts/test.sh. Idempotent: installs only what is missing.
set -euo pipefail

need_apt=()
# zlib headers: CRC-32 and deflate (CModelKitZlib).
[ -f /usr/include/zlib.h ] || need_apt+=(zlib1g-dev)
# HDF5 headers and library (Keras .keras/.h5 weights, CModelKitHDF5) and pkg-config, which finds them.
[ -f /usr/include/hdf5/serial/hdf5.h ] || [ -f /usr/include/hdf5.h ] || need_apt+=(libhdf5-dev)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
# OpenBLAS, loaded at run time with dlopen (the engine falls back to a slower Swift kernel without it).
ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so\.0' || need_apt+=(libopenblas0-pthread)
# A Python with venv for the interop tests (the real numpy/onnxruntime check our files).
if [ "${MODELKIT_SKIP_PYTHON:-0}" != 1 ]; then
  command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
fi

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing ${need_apt[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "bootstrap: missing packages. Run:  sudo apt-get install -y ${need_apt[*]}" >&2
    exit 1
  fi
fi

command -v swift >/dev/null 2>&1 || { echo "bootstrap: the Swift toolchain (swift) is not on PATH" >&2; exit 1; }
