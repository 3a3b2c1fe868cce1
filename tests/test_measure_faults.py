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
