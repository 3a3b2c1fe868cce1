#!/usr/bin/env bash
# Every check docs/gpu-validation.md records, in one pass on a GPU host, from the repository root:
#   bash benchmarks/gpu_validation.sh                      # results under ./gpu-validation-out
#   OUT=/some/folder WHEELS=.whl bash benchmarks/gpu_validation.sh
# WHEELS (optional) is a folder of wheels for a host without a package index (benchmarks/gpu_wheels.sh fetches
# the ones a host with torch, pandas and matplotlib but no pydantic lacks); they are installed into a private
# folder, never over the host's own torch.
# The parts run most wanted first, within BUDGET_S seconds in all (default 540: one call of a 10-minute limit
# with room to copy the results); a part gets at most its own cap (SHARE_S, QUICK_S, SAME_S, DOCTOR_S, COMPILE_S,
# MEASURE_S) and what is left of the budget, and a part with under 20 s left is skipped with a line saying so.
# PARTS (optional) names the parts to run, space-separated (sharing doctor same-numbers quick-eager quick-graph
# quick-compile measure); the others are skipped with a line saying so, e.g. to re-check one fix in a short call:
#   PARTS="sharing same-numbers" BUDGET_S=300 bash benchmarks/gpu_validation.sh
set -u
known="sharing doctor same-numbers quick-eager quick-graph quick-compile measure"
for part in ${PARTS:-}; do
    case " $known " in
        *" $part "*) ;;
        *) echo "gpu_validation: unknown part '$part' in PARTS (known: $known)" >&2; exit 2 ;;
    esac
done
OUT=${OUT:-$PWD/gpu-validation-out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
if [ -n "${WHEELS:-}" ]; then
    python3 -m pip install -q --no-index --no-deps --no-cache-dir --upgrade --target /tmp/bnbench-site \
        "$WHEELS"/*.whl || { echo "gpu_validation: could not install the wheels in $WHEELS" >&2; exit 3; }
    export PYTHONPATH=/tmp/bnbench-site:$PYTHONPATH
fi
work=$(mktemp -d)
started=$SECONDS
budget=${BUDGET_S:-540}

# cap NAME SECONDS: the seconds part NAME may take (its cap, or what is left of the budget), or 0 to skip it.
cap() {
    local left=$((budget - (SECONDS - started)))
    if [ -n "${PARTS:-}" ] && [[ " $PARTS " != *" $1 "* ]]; then
        echo "$1: skipped, not in PARTS" >&2
        echo 0
    elif [ "$left" -lt 20 ]; then
        echo "$1: skipped, ${left} s of the ${budget} s budget left" >&2
        echo 0
    elif [ "$2" -lt "$left" ]; then
        echo "$2"
    else
        echo "$left"
    fi
}

date -u
nvidia-smi --query-gpu=name,uuid,driver_version,power.limit,persistence_mode,mig.mode.current,pci.bus_id \
    --format=csv
python3 -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda,
torch.backends.cudnn.version(), torch.cuda.nccl.version())"

# 1. Shared hardware: the quick scenario packed 1, 2 and 4 runs per GPU (session time, busy %, each run's GPU
#    joules, and the runs' GPU joules over their whole meter windows against the board's counter over the same
#    seconds), then beside a matrix-multiply loop bnbench did not start.
t=$(cap sharing "${SHARE_S:-240}")
if [ "$t" -gt 0 ]; then
    timeout "$t" python3 benchmarks/gpu_sharing.py --out "$work/share" > "$OUT/sharing.txt" 2>&1
    echo "sharing exit $?"
    cat "$OUT/sharing.txt"
fi

# 2. The doctor: identity, counter period and latency, idle watts, a burn (counter vs integrated power),
#    SRCNN speed with and without BN at batch 64 to 1024, fp32 and bf16, each in the eager loop and with the
#    step captured in a CUDA graph (the bench synchronises before every clock read), and a short real run.
t=$(cap doctor "${DOCTOR_S:-200}")
if [ "$t" -gt 0 ]; then
    timeout "$t" python3 -m bnbench doctor --out "$work/doc" --json "$OUT/doctor.json" 2>&1 \
        | tee "$OUT/doctor.txt"
    for d in "$work"/doc/doctor-run-*; do
        cp "$d/results/runs.csv" "$OUT/doctor-run-runs.csv" 2>/dev/null
        cp "$d/results/manifest.json" "$OUT/doctor-run-manifest.json" 2>/dev/null
    done
fi

# 3. The same numbers: 200 graphed steps against 200 eager ones, control and BN (the GPU tests of
#    tests/test_graphed.py; skipped where there is no GPU, so "2 passed" is the result to look for), each held
#    to the gap two eager runs nudged by an ulp a step drift apart; the measured gaps go to a JSON-lines file.
t=$(cap same-numbers "${SAME_S:-120}")
if [ "$t" -gt 0 ]; then
    BNBENCH_GPU_REPORT="$OUT/graph-same-numbers.jsonl" timeout "$t" python3 -m pytest tests/test_graphed.py -k gpu \
        -n 0 -p no:cacheprovider -q -rs > "$OUT/graph-same-numbers.txt" 2>&1
    echo "same numbers exit $?"
    tail -5 "$OUT/graph-same-numbers.txt"
    python3 -c 'import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(r["variant"], "PASS" if not r["failures"] else "FAIL", r["summary"])' "$OUT/graph-same-numbers.jsonl" 2>&1
fi

# 4. The quick scenario on the GPU in the eager loop, then with the whole step captured in a CUDA graph
#    ([train] graph = true). Every phase window synchronises the GPU at both edges, so the measured seconds are
#    the work's. runs.csv's loop column says which loop each run trained in, and loop_note why, where it is not
#    the one asked for.
for loop in eager graph; do
    t=$(cap "quick-$loop" "${QUICK_S:-100}")
    [ "$t" -gt 0 ] || continue
    flags=(--set train.graph=false)  # unset, a GPU run is graphed
    [ "$loop" = graph ] && flags=(--set train.graph=true)
    timeout "$t" python3 -m bnbench run scenarios/quick.toml --device cuda:0 "${flags[@]}" --out "$work/q-$loop" \
        > "$OUT/quick-$loop-gpu.txt" 2>&1
    echo "quick $loop exit $?"
    tail -25 "$OUT/quick-$loop-gpu.txt"
    for f in runs.csv manifest.json report.md; do cp "$work/q-$loop/$f" "$OUT/quick-$loop-$f" 2>/dev/null; done
done

# 5. torch.compile's reduce-overhead mode (its first compile, in the warm-up, needs a C compiler).
t=$(cap quick-compile "${COMPILE_S:-150}")
if [ "$t" -gt 0 ]; then
    timeout "$t" python3 -m bnbench run scenarios/quick.toml --device cuda:0 \
        --set 'train.compile="reduce-overhead"' --out "$work/qc" > "$OUT/quick-compile-gpu.txt" 2>&1
    echo "quick compile exit $?"
    tail -25 "$OUT/quick-compile-gpu.txt"
    for f in runs.csv manifest.json report.md; do cp "$work/qc/$f" "$OUT/quick-compile-$f" 2>/dev/null; done
fi

# 6. `bnbench measure` on a command that loads the GPU for 8 s and holds about 1 GiB. Each matmul is
#    synchronised before the clock is read: unsynchronised, the loop queues far more than 8 s of work, which
#    drains after it, so neither its joules nor its time would describe 8 s of load.
t=$(cap measure "${MEASURE_S:-60}")
if [ "$t" -gt 0 ]; then
    timeout "$t" python3 -m bnbench measure --out "$work/m" -- python3 -c "
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
fi
echo "gpu_validation: $((SECONDS - started)) s of the ${budget} s budget"
date -u
