#!/usr/bin/env bash
# Every check docs/gpu-validation.md records, in one pass on a GPU host, from the repository root:
#   bash benchmarks/gpu_validation.sh                      # results under ./gpu-validation-out
#   OUT=/some/folder WHEELS=wheels/ bash benchmarks/gpu_validation.sh
# WHEELS (optional) is a folder of wheels for a host without a package index; they are installed into a
# private folder, never over the host's own torch. DOCTOR_S, QUICK_S, MEASURE_S and SHARE_S cap each part (seconds).
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
#    SRCNN speed with and without BN, and a short real run.
timeout "${DOCTOR_S:-300}" python3 -m bnbench doctor --out "$work/doc" --json "$OUT/doctor.json" 2>&1 \
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
#    joules against the board's counter), then beside a matrix-multiply loop bnbench did not start.
timeout "${SHARE_S:-420}" python3 benchmarks/gpu_sharing.py --out "$work/share" > "$OUT/sharing.txt" 2>&1
echo "sharing exit $?"
cat "$OUT/sharing.txt"
date -u
