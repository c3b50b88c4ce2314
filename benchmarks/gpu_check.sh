#!/usr/bin/env bash
# The GPU check, end to end on a fresh GPU machine (H100/H200, A10G, ...), in under 8 minutes:
# find or install the environment, then benchmarks/gpu_check.py runs the CUDA tests,
# throughput and MFU at 3 sizes (bf16 autocast + TF32 + fused AdamW, eager and
# torch.compile), one `small` training verdict, and writes ONE JSON file of all figures with
# PASS/FAIL lines per target. See docs/BENCHMARKS.md.
#
#   benchmarks/gpu_check.sh [--out gpu_check.json] [--dry-run] [--budget-s 420]
#                           [--skip-tests] [--skip-compile] [--skip-verdict]
#
# The Python used, first that works:
#   1. $PF_PYTHON                 an interpreter that already has torch (CUDA) and pytest
#   2. .venv/bin/python           the project's venv; when `make -q .venv/.installed` says it
#                                 is missing or stale, `make .venv/.installed` (the Makefile's
#                                 own venv + stamp logic: pinned torch, `pip install -e`)
#                                 runs first, bounded by $PF_INSTALL_TIMEOUT (default 300 s);
#                                 offline, a failed install falls back to what is there
#   3. python3 on PATH            if it has torch and pytest (e.g. a PyTorch container)
# --dry-run (or PF_GPU_CHECK_DRY=1): the whole check on the CPU, tiny sizes, < 60 s; never
# installs. Exit code: gpu_check.py's (0 all targets pass, 1 a target failed), 2 no Python.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
start=$(date +%s)
log() { echo "gpu_check.sh: $*" >&2; }
usable() { "$1" -c 'import torch, pytest' >/dev/null 2>&1; }

dry=${PF_GPU_CHECK_DRY:-}
[[ $dry == 0 ]] && dry=""
for arg in "$@"; do [[ $arg == --dry-run ]] && dry=1; done

py=""
if [[ -n ${PF_PYTHON:-} ]]; then
  usable "$PF_PYTHON" || { log "PF_PYTHON=$PF_PYTHON cannot import torch and pytest"; exit 2; }
  py=$PF_PYTHON
else
  if [[ -z $dry ]] && command -v make >/dev/null 2>&1 \
      && ! make -q --no-print-directory .venv/.installed >/dev/null 2>&1; then
    log "installing: make .venv/.installed (timeout ${PF_INSTALL_TIMEOUT:-300} s)"
    timeout "${PF_INSTALL_TIMEOUT:-300}" make --no-print-directory .venv/.installed \
      || log "make .venv/.installed failed (no PyPI?); using what is installed"
  fi
  if [[ -x .venv/bin/python ]] && usable .venv/bin/python; then
    py=.venv/bin/python
  elif command -v python3 >/dev/null 2>&1 && usable python3; then
    py=python3
    log "no usable .venv; using $(command -v python3)"
  else
    log "no Python with torch and pytest: run 'make .venv/.installed' where PyPI is reachable,"
    log "or set PF_PYTHON to an interpreter that has them (docs/BENCHMARKS.md)"
    exit 2
  fi
fi
install_s=$(($(date +%s) - start))

if [[ -z $dry ]] && command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >&2 || true
  if ! "$py" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
    log "this torch sees no GPU: a CPU-only wheel? Install a CUDA build of the pinned torch"
    log "(.venv/bin/pip install --force-reinstall torch==<Makefile TORCH> --index-url <a CUDA"
    log "wheel index from pytorch.org>) or point PF_PYTHON at an interpreter that has one"
  fi
fi

export PYTHONPATH="containers/trainer:lambdas${PYTHONPATH:+:$PYTHONPATH}"
# gpu_check.py keeps to its own --budget-s (420 s); the outer bound only catches a hang
exec timeout "${PF_CHECK_TIMEOUT:-600}" "$py" benchmarks/gpu_check.py \
  --install-seconds "$install_s" "$@"
