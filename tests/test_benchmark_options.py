"""The benchmarks' documented options, each run with its smallest settings: they finish and exit 0, and a bad
value is one line and exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def benchmark(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / name), *args], capture_output=True, text=True,
                          timeout=300, cwd=REPO)


def test_overhead_without_whole_runs_prints_the_blocks_and_exits_0():
    # --whole-rounds 0 is documented to skip the whole-run figure; --minutes 0 still gives one round of blocks.
    done = benchmark("overhead.py", "--minutes", "0", "--min-rounds", "1", "--block-steps", "1",
                     "--whole-rounds", "0", "--batch-size", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Blocks: SRCNN, batch 2, 1 thread(s), 1 rounds of 1-step blocks" in done.stdout
    assert "metered at 100 Hz wall: " in done.stdout and "Whole runs: skipped (--whole-rounds 0)" in done.stdout


def test_overhead_refuses_a_negative_count_in_one_line():
    done = benchmark("overhead.py", "--whole-rounds", "-1")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == "overhead.py: error: argument --whole-rounds: must be at least 0 (got -1)"


def test_report_scale_alternates_with_another_checkout_and_prints_the_ratio(tmp_path):
    # The other checkout is a stand-in whose `python -m bnbench` exits at once: its median is a bare start, this
    # checkout's a whole drawn report of a short night (0.05 h: 14,400 power samples), so the ratio is large. Run
    # from the repository's root, where `-m` alone would import this checkout's bnbench for both sides. --svg goes
    # to this checkout's report alone (the stand-in fails when given it).
    fake = tmp_path / "other"
    (fake / "bnbench").mkdir(parents=True)
    (fake / "bnbench" / "__init__.py").write_text("", encoding="utf-8")
    (fake / "bnbench" / "__main__.py").write_text("import sys\nraise SystemExit('--svg' in sys.argv)\n",
                                                  encoding="utf-8")
    night = tmp_path / "night"
    done = benchmark("report_scale.py", "--hours", "0.05", "--repeat", "1", "--against", str(fake), "--svg",
                     "--keep", str(night), "--per-figure")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "14,400 power samples, 24 runs" in done.stdout
    assert sorted(p.name for p in (night / "figures").glob("*.svg")) == [
        "loss.svg", "metric_vs_energy.svg", "metric_vs_step.svg", "metric_vs_time.svg", "power.svg"]
    line = next(x for x in done.stdout.splitlines() if x.startswith("figures drawn, alternated 1 times each: "))
    ratio = float(line.rsplit("; ratio ", 1)[1])
    assert "this checkout median " in line and f"; {fake} median " in line and ratio > 3, line
    figures = [x.split(":")[0] for x in done.stdout.splitlines() if x.startswith("figure ")]
    assert figures == ["figure loss", "figure metric_vs_time", "figure metric_vs_energy", "figure metric_vs_step",
                       "figure power"], done.stdout
    assert all(x.endswith("CPU-s to draw and save (median of 1)") for x in done.stdout.splitlines()
               if x.startswith("figure ")), done.stdout


def test_report_scale_refuses_a_folder_that_is_not_a_checkout_in_one_line(tmp_path):
    done = benchmark("report_scale.py", "--against", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (f"report_scale.py: error: --against {tmp_path}: not a checkout of bnbench "
                                            "(no bnbench/__init__.py)")


def test_report_scale_counts_the_reports_memory_not_its_own():
    # The benchmark holds the night it wrote; a command it starts must not count that as its own peak. Here this
    # process holds 400 MiB, written page by page, while the command holds 100 MiB.
    import importlib.util

    spec = importlib.util.spec_from_file_location("report_scale", REPO / "benchmarks" / "report_scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    held = bytearray(400 * 2**20)
    held[::4096] = b"x" * len(held[::4096])
    peak = module.peak_rss_mib([sys.executable, "-c", "b = bytearray(100 * 2**20); b[::4096] = b'x' * len(b[::4096])"],
                               {})
    assert 100 < peak < 200, peak
    del held
