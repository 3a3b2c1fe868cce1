#!/usr/bin/env bash
# Every check docs/gpu-validation.md records, in one pass on a GPU host, from the repository root:
#   bash benchmarks/gpu_validation.sh                      # results under ./gpu-validation-out
#   OUT=/some/folder WHEELS=wheels/ bash benchmarks/gpu_validation.sh
# WHEELS (optional) is a folder of wheels for a host without a package index; they are installed into a
# private folder, never over the host's own torch. DOCTOR_S, QUICK_S, COMPILE_S, SAME_S, MEASURE_S and SHARE_S cap
# each part (seconds).
set -u
OUT=${OUT:-$PWD/gpu-validation-out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
if [ -n "${WHEELS:-}" ]; then
    python3 -m pip install -q --no-index --no-deps --no-cache-dir --upgrade --target /tmp/bnbench-site \
        "$WHEELS"/*.whl || { echo "gpu_validation: could not install the wheels in $WHEELS" >&2; exit 3; }
    export PYTHONPATH=/tmp/bnbench-site:$PYTHONPATH
fi
work=$(mktemp -d)

date -u
nvidia-smi --query-gpu=name,uuid,driver_version,power.limit,persistence_mode,mig.mode.current,pci.bus_id \
    --format=csv
python3 -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda,
torch.backends.cudnn.version(), torch.cuda.nccl.version())"

# 1. The doctor: identity, counter period and latency, idle watts, a burn (counter vs integrated power),
#    SRCNN speed with and without BN at batch 64 to 1024, fp32 and bf16, each in the eager loop and with the
#    step captured in a CUDA graph (the bench synchronises before every clock read), and a short real run.
timeout "${DOCTOR_S:-420}" python3 -m bnbench doctor --out "$work/doc" --json "$OUT/doctor.json" 2>&1 \
    | tee "$OUT/doctor.txt"
for d in "$work"/doc/doctor-run-*; do
    cp "$d/results/runs.csv" "$OUT/doctor-run-runs.csv" 2>/dev/null
    cp "$d/results/manifest.json" "$OUT/doctor-run-manifest.json" 2>/dev/null
done

# 2. The quick scenario on the GPU.
timeout "${QUICK_S:-170}" python3 -m bnbench run scenarios/quick.toml --device cuda:0 --out "$work/q" \
    > "$OUT/quick-gpu.txt" 2>&1
echo "quick exit $?"
tail -25 "$OUT/quick-gpu.txt"
for f in runs.csv manifest.json report.md; do cp "$work/q/$f" "$OUT/quick-$f" 2>/dev/null; done

# 2b. The same scenario in the other loops: the whole step captured in a CUDA graph ([train] graph = true), then
#     torch.compile's reduce-overhead mode (its first compile, in the warm-up, needs a C compiler). Every phase
#     window synchronises the GPU at both edges, so the measured seconds are the work's. runs.csv's loop column
#     says which loop each run trained in, and loop_note why, where it is not the one asked for.
timeout "${QUICK_S:-170}" python3 -m bnbench run scenarios/quick.toml --device cuda:0 --set train.graph=true \
    --out "$work/qg" > "$OUT/quick-graph-gpu.txt" 2>&1
echo "quick graph exit $?"
tail -25 "$OUT/quick-graph-gpu.txt"
for f in runs.csv manifest.json report.md; do cp "$work/qg/$f" "$OUT/quick-graph-$f" 2>/dev/null; done
timeout "${COMPILE_S:-300}" python3 -m bnbench run scenarios/quick.toml --device cuda:0 \
    --set 'train.compile="reduce-overhead"' --out "$work/qc" > "$OUT/quick-compile-gpu.txt" 2>&1
echo "quick compile exit $?"
tail -25 "$OUT/quick-compile-gpu.txt"
for f in runs.csv manifest.json report.md; do cp "$work/qc/$f" "$OUT/quick-compile-$f" 2>/dev/null; done

# 2c. The same numbers: 200 graphed steps against 200 eager ones, control and BN (the GPU tests of
#     tests/test_graphed.py; skipped where there is no GPU, so "2 passed" is the result to look for).
timeout "${SAME_S:-180}" python3 -m pytest tests/test_graphed.py -k gpu -n 0 -p no:cacheprovider -q -rs \
    > "$OUT/graph-same-numbers.txt" 2>&1
echo "same numbers exit $?"
tail -5 "$OUT/graph-same-numbers.txt"

# 3. `bnbench measure` on a command that loads the GPU for 8 s and holds about 1 GiB. Each matmul is
#    synchronised before the clock is read: unsynchronised, the loop queues far more than 8 s of work, which
#    drains after it, so neither its joules nor its time would describe 8 s of load.
timeout "${MEASURE_S:-90}" python3 -m bnbench measure --out "$work/m" -- python3 -c "
import time, torch
x = torch.randn(8192, 8192, device='cuda')
hold = torch.empty(1024**3 // 4, device='cuda')
torch.cuda.synchronize()
t = time.time()
while time.time() - t < 8:
    x = (x @ x).tanh()
    torch.cuda.synchronize()" > "$OUT/measure-gpu.txt" 2>&1
echo "measure exit $?"
cat "$OUT/measure-gpu.txt"
cp "$work/m/runs.csv" "$OUT/measure-runs.csv" 2>/dev/null

# 4. Shared hardware: the quick scenario packed 1, 2 and 4 runs per GPU (session time, busy %, each run's GPU
#    joules, and the runs' GPU joules over their whole meter windows against the board's counter over the same
#    seconds), then beside a matrix-multiply loop bnbench did not start.
timeout "${SHARE_S:-420}" python3 benchmarks/gpu_sharing.py --out "$work/share" > "$OUT/sharing.txt" 2>&1
echo "sharing exit $?"
cat "$OUT/sharing.txt"
date -u
