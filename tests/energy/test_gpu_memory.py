"""Peak GPU memory of a command's processes: NVML's per-process bytes, summed over its pids and GPUs, sampled."""

import os
import subprocess
import sys
import time

from bnbench.commands.measure import gpu_memory_text
from bnbench.energy.gpu_memory import PeakGpuMemory
from bnbench.execute.process_group import ProcessGroup
from tests.energy.fakes import FakeClock, FakeGpu, FakeNvml

GIB = 1 << 30


def test_peak_sums_the_command_s_processes_over_its_gpus_and_ignores_others():
    gpu0 = FakeGpu(uuid="GPU-0", held=[{10: GIB, 99: 4 * GIB}, {10: 2 * GIB, 99: 4 * GIB}, {}])
    gpu1 = FakeGpu(uuid="GPU-1", held=[{11: GIB // 2}, {11: None}, {}])  # None: NVML cannot say
    clock = FakeClock()
    watch = PeakGpuMemory(FakeNvml([gpu0, gpu1]), [gpu0, gpu1], period_s=0.1, clock=clock)
    assert watch.peak_mib is None  # nothing seen yet: unknown, not 0
    watch.sample({10, 11})
    assert watch.peak_mib == 1536.0  # 1 GiB + 512 MiB; pid 99 belongs to someone else
    watch.sample({10, 11})  # within the period: not read
    assert gpu0.reads["held"] == 1
    clock.advance(0.15)
    watch.sample({10, 11})
    assert watch.peak_mib == 2048.0  # 2 GiB on gpu0; gpu1's figure unavailable
    clock.advance(0.15)
    watch.sample({10, 11})  # the processes are gone: the peak stays
    assert watch.peak_mib == 2048.0 and gpu0.reads["held"] == 3


def test_a_command_nvml_never_lists_has_an_unknown_peak():
    gpu = FakeGpu(held=[{4242: GIB}])  # a host pid, as NVML may give inside a container
    watch = PeakGpuMemory(FakeNvml([gpu]), [gpu], clock=FakeClock())
    watch.sample({10})
    assert watch.peak_mib is None


def test_measure_prints_the_peak_or_why_there_is_none():
    assert gpu_memory_text(2048.0, "cuda:0").startswith("2,048 MiB")
    assert gpu_memory_text(None, "cuda:0").startswith("unknown (NVML listed none")
    assert gpu_memory_text(None, "cpu") == "n/a (no GPU)"


def test_process_group_pids_are_the_leader_and_its_descendants(tmp_path):
    group = ProcessGroup([sys.executable, "-c", "import subprocess, time; subprocess.Popen(['sleep', '30']); "
                          "time.sleep(30)"], tmp_path, dict(os.environ), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while len(group.pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        pids = group.pids()
        assert group.pid in pids and len(pids) == 2
        assert os.getpid() not in pids
    finally:
        group.stop(0)


class _EveryChildHolds:
    """An NVML whose one GPU lists every live descendant of this test process as holding 300 MiB."""

    NVMLError = RuntimeError

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        from types import SimpleNamespace

        import psutil
        return [SimpleNamespace(pid=p.pid, usedGpuMemory=300 * 1024 * 1024) for p in psutil.Process().children(True)]

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle):
        return []


def test_run_command_samples_the_commands_processes_into_its_outcome(tmp_path):
    from bnbench.execute.command import run_command
    from bnbench.scenario import expand, load
    from bnbench.train import NullHooks

    (tmp_path / "job.py").write_text("import subprocess, sys, time\n"
                                     "child = subprocess.Popen(['sleep', '1'])\ntime.sleep(1)\nchild.wait()\n")
    (tmp_path / "cmd.toml").write_text(f"""
[scenario]
name = "cmd"
seeds = [0]
device = "cpu"
[task]
name = "command"
metric = "acc"
higher_is_better = true
metric_required = false
workdir = "{tmp_path}"
[[variant]]
name = "control"
command = ["{sys.executable}", "job.py"]
""")
    spec = expand(load(tmp_path / "cmd.toml"))[0]
    outcome = run_command(spec, NullHooks(), ("cpu",), tmp_path / "run",
                          gpu_memory=PeakGpuMemory(_EveryChildHolds(), ["gpu0"], period_s=0.05))
    assert outcome.status == "completed"
    assert outcome.gpu_mem_peak_mib == 600.0  # the command and its child, 300 MiB each
