#!/usr/bin/env bash
# Runs on a lent GPU host (no .NET, no network; PyTorch and the CUDA 13 pip libraries present), from the
# repository root, with gpu/bundle carried along. Writes logs and tables to $OUT (default ./gpu-out).
#   bash gpu/bundle/run-on-gpu-host.sh [all | tests | bench]     (default all; each part fits one device call: its timeouts add up to 570 s)
# tests:
#   info.txt           fer info: driver, devices, cuBLAS / cuDNN found (or why not)
#   real-gpu.txt       the real-GPU tests alone, first (quick to read if the full suite has failures)
#   tests.txt          the whole test suite with FERENGINE_REQUIRE_GPU=1 (GPU tests must run, not skip)
#   train-cuda.txt     a short `fer train --device cuda` run on synthetic data (captures a CUDA graph)
# bench:
#   gpu-train-step.md  the GPU training-step benchmark against the host's PyTorch (eager, strict fp32, CUDA graph)
#                      and our memory-bound kernels' bandwidth against the device-to-device copy
#   primitives-32.md, primitives-256.md   every primitive vs PyTorch on the GPU, against measured limits
#   breakdown.md       where one GPU training step's time goes, per primitive
set -uo pipefail
part=${1:-all}
bundle=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
export DOTNET_ROOT=/tmp/ferengine-dotnet DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
mkdir -p "$DOTNET_ROOT" && tar -C "$DOTNET_ROOT" -xJf "$bundle/dotnet-runtime.tar.xz"
dotnet="$DOTNET_ROOT/dotnet"
app=/tmp/ferengine-app
mkdir -p "$app" && tar -C "$app" -xJf "$bundle/app.tar.xz"
# The pip-installed NVIDIA libraries of the host's PyTorch (GPU_HOST.md), ahead of everything else.
nvidia=$(python3 -c "import nvidia, os; print(os.pathsep.join(nvidia.__path__))" 2>/dev/null | cut -d: -f1)
if [ -n "$nvidia" ]; then
  export FERENGINE_CUDA_LIBS=$(ls -d "$nvidia"/*/lib 2>/dev/null | paste -sd:)
fi
# The host's own ptxas (CUDA 13) for the PTX assembly checks.
for candidate in /usr/local/cuda/bin/ptxas "$(command -v ptxas)"; do
  [ -x "$candidate" ] && export FERENGINE_PTXAS=$candidate && break
done
python=$(command -v python3)

if [ "$part" = all ] || [ "$part" = tests ]; then
  { nvidia-smi || true; echo; "$dotnet" "$app/app/Trainer/fer.dll" info; } > "$OUT/info.txt" 2>&1
  FERENGINE_REQUIRE_GPU=1 timeout 180 "$dotnet" "$app/app/Tests/FerEngine.Tests.dll" -class FerEngine.Tests.Cuda.RealGpuTests > "$OUT/real-gpu.txt" 2>&1
  echo "real-GPU tests exit code: $?" >> "$OUT/real-gpu.txt"
  FERENGINE_REQUIRE_GPU=1 timeout 300 "$dotnet" "$app/app/Tests/FerEngine.Tests.dll" > "$OUT/tests.txt" 2>&1
  echo "tests exit code: $?" >> "$OUT/tests.txt"
  timeout 90 "$dotnet" "$app/app/Trainer/fer.dll" train --device cuda --epochs 3 --out /tmp/ferengine-run > "$OUT/train-cuda.txt" 2>&1
  echo "train exit code: $?" >> "$OUT/train-cuda.txt"
  tail -n 3 "$OUT/real-gpu.txt" "$OUT/tests.txt" "$OUT/train-cuda.txt"
fi

if [ "$part" = all ] || [ "$part" = bench ]; then
  timeout 300 "$dotnet" "$app/app/Benchmarks/FerEngine.Benchmarks.dll" gpu-train-step --batches 32,256,1024 --seconds 5 \
    --python "$python" --out "$OUT/gpu-train-step.md" > "$OUT/gpu-train-step.log" 2>&1
  echo "gpu-train-step exit code: $?" >> "$OUT/gpu-train-step.log"
  for batch in 32 256; do
    timeout 90 "$dotnet" "$app/app/Benchmarks/FerEngine.Benchmarks.dll" primitives --device cuda --batch "$batch" --repeats 20 \
      --python "$python" > "$OUT/primitives-$batch.md" 2>&1
    echo "primitives exit code: $?" >> "$OUT/primitives-$batch.md"
  done
  timeout 90 "$dotnet" "$app/app/Benchmarks/FerEngine.Benchmarks.dll" breakdown --device cuda --batch 32 --steps 20 > "$OUT/breakdown.md" 2>&1
  echo "breakdown exit code: $?" >> "$OUT/breakdown.md"
  tail -n 12 "$OUT/gpu-train-step.md"
fi
