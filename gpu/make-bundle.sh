#!/usr/bin/env bash
# Builds what a lent GPU host needs into gpu/bundle/ (git-ignored; pass it to the device tool as a carried path):
#   app.tar.xz          app/Tests, app/Trainer, app/Benchmarks: framework-dependent linux-x64 Release builds
#   dotnet-runtime.tar.xz   the .NET runtime (the host has no .NET), about 26 MB
#   run-on-gpu-host.sh      what to run there (see that script)
# The whole folder must stay under 60 MiB (the device tool carries at most 64 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."
out=gpu/bundle
rm -rf "$out" && mkdir -p "$out/app"
for project in Tests Trainer Benchmarks; do
  dotnet publish "$project/$project.csproj" -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=false \
    -o "$out/app/$project" -v quiet
done
# Only the Linux x64 natives are needed there, and not the test SDK's code-coverage collector (30 MB).
find "$out/app" -path '*/runtimes/*' -type d -prune ! -path '*/runtimes/linux-x64*' -exec rm -rf {} + 2>/dev/null || true
rm -rf "$out"/app/*/Microsoft.CodeCoverage
# ONNX Runtime (35 MB) only checks `fer export` on the CPU: its tests skip without it, and the bundle stays under budget.
# Its package also drops its Windows DLLs (onnxruntime*.dll, 20 MB each copy) into a linux-x64 publish: not needed on Linux.
find "$out/app" \( -name 'libonnxruntime*.so' -o -name 'onnxruntime*.dll' \) -delete
tar -C "$out" -cf - app | xz -T2 -6 > "$out/app.tar.xz" && rm -rf "$out/app"
dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
tar -C "$dotnet_root" -cf - shared/Microsoft.NETCore.App host dotnet | xz -T2 -6 > "$out/dotnet-runtime.tar.xz"
cp gpu/run-on-gpu-host.sh "$out/"
size=$(du -sm "$out" | cut -f1)
echo "bundle: $out, ${size} MiB"
[ "$size" -lt 60 ] || { echo "bundle is ${size} MiB: over the 60 MiB budget" >&2; exit 1; }
