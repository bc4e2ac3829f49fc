#!/usr/bin/env bash
# Runs on a lent GPU host (no .NET, no network; PyTorch and the CUDA 13 pip libraries present), from the
# repository root, with gpu/bundle carried along. Writes logs and tables to $OUT (default ./gpu-out).
#   bash gpu/bundle/run-on-gpu-host.sh [all | tests | bench] [seconds]
# A session has about 15 minutes of device time, the machine's start included, and one call runs at most 10
# minutes, so `all` (the default) is meant to be the one call: it gives itself 540 seconds (or the second argument)
# and runs its parts in order of importance, each cut short where the time left is less than its own limit.
# The device tool returns at most 8 files from $OUT; this writes 8:
#   gpu-tests.txt      nvidia-smi, `fer info` (driver, devices, cuBLAS / cuDNN found, or why not),
#                      then the real-GPU tests alone (quick to read if the full suite has failures), and again
#                      with CUDA_LAUNCH_BLOCKING=1 if a kernel faulted
#   gpu-train-step.md  the GPU training-step benchmark against the host's PyTorch (eager, strict fp32, CUDA graph)
#                      and our memory-bound kernels' bandwidth against the device-to-device copy
#   gpu-train-step.log its console output (each batch's row as soon as it is measured)
#   tests.txt          the whole test suite with FERENGINE_REQUIRE_GPU=1 (GPU tests must run, not skip)
#   train-cuda.txt     a short `fer train --device cuda` run on synthetic data (captures a CUDA graph)
#   primitives.md      every primitive vs PyTorch on the GPU at batch 32 and 256, against measured limits
#   breakdown.md       where one GPU training step's time goes, per primitive
#   sanitizer.txt      a tiny `fer train --device cuda` under compute-sanitizer's memcheck: every out-of-bounds or
#                      misaligned device access (ours, cuDNN's or cuBLAS's, e.g. from a wrong descriptor), named
set -uo pipefail
part=${1:-all}
budget=${2:-540}
deadline=$((SECONDS + budget))
bundle=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
export DOTNET_ROOT=/tmp/ferengine-dotnet DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
mkdir -p "$DOTNET_ROOT" && tar -C "$DOTNET_ROOT" -xJf "$bundle/dotnet-runtime.tar.xz"
dotnet="$DOTNET_ROOT/dotnet"
app=/tmp/ferengine-app
mkdir -p "$app" && tar -C "$app" -xJf "$bundle/app.tar.xz"
tests="$app/app/Tests/FerEngine.Tests.dll" fer="$app/app/Trainer/fer.dll" bench="$app/app/Benchmarks/FerEngine.Benchmarks.dll"
# The pip-installed NVIDIA libraries of the host's PyTorch (GPU_HOST.md), ahead of everything else.
nvidia=$(python3 -c "import nvidia, os; print(os.pathsep.join(nvidia.__path__))" 2>/dev/null | cut -d: -f1)
if [ -n "$nvidia" ]; then
  export FERENGINE_CUDA_LIBS=$(ls -d "$nvidia"/*/lib 2>/dev/null | paste -sd:)
  # cuDNN loads its sub-libraries and libnvrtc (runtime-compiled engines) by bare name: let the loader find them.
  export LD_LIBRARY_PATH="$FERENGINE_CUDA_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# The host's own ptxas (CUDA 13) for the PTX assembly checks.
for candidate in /usr/local/cuda/bin/ptxas "$(command -v ptxas)"; do
  [ -x "$candidate" ] && export FERENGINE_PTXAS=$candidate && break
done
python=$(command -v python3)

# step LOG LIMIT COMMAND...: appends COMMAND's output to $OUT/LOG, killed after LIMIT seconds or at the deadline,
# whichever comes first; a step with under 15 seconds left is not started. The exit code goes in the log (124: cut).
step() {
  local log="$OUT/$1" limit=$2; shift 2
  local left=$((deadline - SECONDS))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 15 ]; then
    echo "not run: the call's $budget seconds were spent ($*)" >> "$log"
    return
  fi
  echo "\$ $* (limit ${limit} s)" >> "$log"
  local start=$SECONDS
  timeout "$limit" "$@" >> "$log" 2>&1
  echo "exit code: $? after $((SECONDS - start)) s" >> "$log"
}

if [ "$part" = all ] || [ "$part" = tests ]; then
  { nvidia-smi || true; echo; } > "$OUT/gpu-tests.txt" 2>&1
  step gpu-tests.txt 30 "$dotnet" "$fer" info
  FERENGINE_REQUIRE_GPU=1 step gpu-tests.txt 120 "$dotnet" "$tests" -noColor -class FerEngine.Tests.Cuda.RealGpuTests
  # A kernel that faults is reported by a later call (a synchronisation, a copy back), not by its launch, and the
  # fault breaks the context for every test after it. If that happened, run the tests once more with every launch
  # synchronous, so that the call that faults names itself (graph capture may be refused in that mode).
  if grep -Eq "CUDA_ERROR_(ILLEGAL_ADDRESS|ILLEGAL_INSTRUCTION|MISALIGNED_ADDRESS|INVALID_PC|LAUNCH_FAILED|HARDWARE_STACK_ERROR)" "$OUT/gpu-tests.txt"; then
    CUDA_LAUNCH_BLOCKING=1 FERENGINE_REQUIRE_GPU=1 step gpu-tests.txt 90 "$dotnet" "$tests" -noColor -class FerEngine.Tests.Cuda.RealGpuTests
  fi
fi
if [ "$part" = all ] || [ "$part" = bench ]; then
  step gpu-train-step.log 200 "$dotnet" "$bench" gpu-train-step --batches 32,256,1024 --seconds 2 \
    --python "$python" --out "$OUT/gpu-train-step.md"
fi
if [ "$part" = all ] || [ "$part" = tests ]; then
  FERENGINE_REQUIRE_GPU=1 step tests.txt 240 "$dotnet" "$tests" -noColor
  step train-cuda.txt 60 "$dotnet" "$fer" train --device cuda --epochs 3 --out /tmp/ferengine-run
fi
if [ "$part" = all ] || [ "$part" = bench ]; then
  for batch in 32 256; do
    step primitives.md 60 "$dotnet" "$bench" primitives --device cuda --batch "$batch" --repeats 20 --python "$python"
  done
  step breakdown.md 45 "$dotnet" "$bench" breakdown --device cuda --batch 32 --steps 20
fi
if [ "$part" = all ] || [ "$part" = tests ]; then
  sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  if [ -x "$sanitizer" ]; then
    step sanitizer.txt 90 "$sanitizer" --tool memcheck --error-exitcode 9 "$dotnet" "$fer" train --device cuda --no-graph \
      --width 0.125 --epochs 1 --synthetic-train 64 --synthetic-validation 16 --batch 16 --out /tmp/ferengine-sanitized
  else
    echo "compute-sanitizer not found (looked on PATH and in /usr/local/cuda/bin)" > "$OUT/sanitizer.txt"
  fi
fi
cd "$OUT" && tail -n 4 ./*
