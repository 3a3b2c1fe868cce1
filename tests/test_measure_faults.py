"""`bnbench measure` meters its command and nothing else, under closed pipes, floods of output and orphans."""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import sys
import threading

from bnbench.execute.command import MAX_LINE_BYTES, _Output

BNBENCH = f"{shlex.quote(sys.executable)} -m bnbench"


def measure_json(*command: str, timeout_s: float = 120) -> dict:
    result = subprocess.run([sys.executable, "-m", "bnbench", "measure", "--json", "--device", "cpu", "--",
                             *command], capture_output=True, text=True, timeout=timeout_s)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["commands"][0]


def test_a_closed_pipe_neither_hangs_measure_nor_changes_its_exit_code(tmp_path):
    # seq writes 589 kB, far more than a pipe holds: once head has gone, the command must still be read to its
    # end, or it blocks on its full pipe forever.
    script = f"{BNBENCH} measure -- seq 1 100000 | head -1; exit ${{PIPESTATUS[0]}}"
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1\n"
    assert "Traceback" not in result.stderr and "interrupted" not in result.stderr, result.stderr
    assert "exit code     0" in result.stderr  # the summary, on stderr, is whole


def test_an_orphan_is_waited_for_but_bnbench_polling_it_is_not_charged():
    # The shell exits at once and leaves `sleep 2` in its group: the run lasts until the sleep ends. Neither
    # uses CPU to speak of, so at the estimate's 10 W a core the energy is about 0; bnbench's own polling for
    # those 2 s (12% of a core: 2.4 J) must not be in it. 1 J allows 0.1 CPU-seconds for sh and sleep.
    figures = measure_json("sh", "-c", "sleep 2 & exit 0")
    assert figures["train_s"]["mean"] >= 2.0
    assert figures["energy_source"] == "estimate"
    assert figures["energy_j"]["mean"] <= 1.0, figures["energy_j"]


def test_a_flood_of_output_costs_the_command_no_time():
    # 5 MB of 'y' lines, 2.6 million of them: read in chunks they take milliseconds (the command alone takes
    # 0.02 s); read and logged line by line they took 10 s.
    figures = measure_json("sh", "-c", "yes | head -c 5000000 >&2")
    assert figures["train_s"]["mean"] < 2.0, figures["train_s"]


def test_one_long_line_is_cut_for_matching_but_logged_whole():
    # 3 MiB without a newline, then a short line: the first reaches the parser cut to MAX_LINE_BYTES (1 MiB),
    # the second whole; the log holds all 3 MiB + 6 bytes.
    read_fd, write_fd = os.pipe()
    log, lines, done = io.BytesIO(), [], threading.Event()
    output = _Output(os.fdopen(read_fd, "rb"), log, None, lines.append)
    writer = threading.Thread(target=lambda: (os.write(write_fd, b"x" * (3 << 20) + b"\nshort"), os.close(write_fd),
                                              done.set()))
    writer.start()
    writer.join(30)
    output.join(30)
    assert done.is_set()
    assert [len(line) for line in lines] == [MAX_LINE_BYTES, 5]
    assert lines[1] == "short"
    assert len(log.getvalue()) == (3 << 20) + 6


def test_an_interrupted_measure_shows_the_wall_time_and_no_folder_to_resume(tmp_path):
    import signal
    import time

    import psutil

    process = subprocess.Popen([sys.executable, "-m", "bnbench", "measure", "--device", "cpu", "--", "sleep", "30"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the command has started: the run is under way
        if any(c.name() == "sleep" for c in psutil.Process(process.pid).children(recursive=True)):
            break
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    wall = next(line for line in err.splitlines() if line.startswith("  wall time"))
    assert "n/a" not in wall and float(wall.split()[2]) >= 0.5  # the sleep ran at least the 0.5 s waited
    assert "exit code     interrupted (bnbench was stopped: SIGINT or SIGTERM)" in err
    assert "exit code     0" not in err
    assert "--resume" not in err  # the temporary folder is gone: nothing to point at


def test_a_run_that_fails_though_its_command_exited_0_says_why():
    result = subprocess.run([sys.executable, "-m", "bnbench", "measure", "--device", "cpu", "--metric", "acc",
                             "echo acc=1", "echo acc=2"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("  exit code     0\n") == 2  # what each command itself exited with
    assert result.stderr.count("  failed        the command reported no 'acc' (Reporter.evaluate(step, acc=...)") == 2


def test_a_session_too_large_is_refused_at_once():
    result = subprocess.run([sys.executable, "-m", "bnbench", "measure", "-n", "1000000", "--", "true"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "bnbench: error: -n 1000000 x 1 command(s) is 1,000,000 runs; at most 10,000 in one session (each is a "
        "row and a folder of its own)"]


def test_help_says_the_command_reads_no_stdin():
    result = subprocess.run([sys.executable, "-m", "bnbench", "measure", "--help"], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "COLUMNS": "200"})
    assert "The command's stdin is empty (/dev/null)" in result.stdout


def test_warmup_runs_each_command_unmeasured_first(tmp_path):
    # Each run appends a line: 3 warm-up runs and 2 measured ones make 5 lines, and 2 measured runs are kept.
    out = tmp_path / "results"
    result = subprocess.run([sys.executable, "-m", "bnbench", "measure", "--device", "cpu", "-n", "2", "--warmup",
                             "3", "--json", "--out", str(out), "--", "sh", "-c", "echo x >> count.txt"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "count.txt").read_text() == "x\n" * 5
    assert len(json.loads(result.stdout)["commands"][0]["runs"]) == 2
    assert "warm-up: 3 unmeasured runs of each command" in result.stderr
    failed = subprocess.run([sys.executable, "-m", "bnbench", "measure", "--warmup", "1", "--", "false"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert failed.returncode == 1
    assert "warm-up run of false exited with code 1; nothing measured" in failed.stderr
