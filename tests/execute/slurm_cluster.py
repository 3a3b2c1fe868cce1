"""A one-node Slurm cluster on localhost, from the distribution's packages (Debian: slurm-wlm, munge).

munged runs with a key made here, slurmctld and slurmd run directly (no systemd), CPU only, with a slurm.conf
in a temporary folder and free ports, so two clusters (two test processes) can run side by side. Every Slurm
command finds it through SLURM_CONF. `start` returns None, with the reason, where the binaries are missing or
the cluster does not come up.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel", "srun")
NODE = "node0"
REAPER = Path(__file__).with_name("slurm_reaper.py")


@dataclass
class Cluster:
    folder: Path
    conf: Path
    processes: list[subprocess.Popen[bytes]]

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def stop(self) -> None:
        # Jobs first: a job's slurmstepd outlives slurmd by design (a restarted slurmd takes its steps back).
        env = {**os.environ, **self.env}
        subprocess.run(["scancel", "--user", getpass.getuser()], env=env, capture_output=True, check=False)
        _wait(lambda: not subprocess.run(["squeue", "-h"], env=env, capture_output=True, text=True).stdout.strip(),
              15.0)
        for process in reversed(self.processes):
            process.terminate()
        for process in reversed(self.processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _free_ports(n: int) -> list[int]:
    probes = [socket.socket() for _ in range(n)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def missing() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None]


def _conf(folder: Path, munge_socket: Path, cpus: int, memory_mib: int) -> str:
    controller, node = _free_ports(2)
    return f"""
ClusterName=bnbench-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={controller}
SlurmdPort={node}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: how long a requeued job waits before it starts again (120 s by default)
AuthInfo=socket={munge_socket},cred_expire=5
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool/%n
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd-%n.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
JobRequeue=1
KillWait=5
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
NodeName={NODE} NodeAddr=127.0.0.1 NodeHostname=localhost CPUs={cpus} RealMemory={memory_mib} State=UNKNOWN
PartitionName=debug Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
"""


def start(folder: Path, cpus: int = 2, memory_mib: int = 2048, timeout_s: float = 30.0) -> Cluster | str:
    """A running cluster whose state lives in `folder`, or why there is none."""
    if absent := missing():
        return f"Slurm is not installed here (no {', '.join(absent)}; Debian: apt-get install slurm-wlm munge)"
    if os.geteuid() != 0:
        return "a local Slurm cluster needs root (slurmd runs jobs as their user)"
    for sub in ("state", "spool", "munge"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    key = folder / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    (folder / "munge").chmod(0o700)
    munge_socket = folder / "munge" / "munge.socket"
    conf = folder / "slurm.conf"
    conf.write_text(_conf(folder, munge_socket, cpus, memory_mib), encoding="utf-8")
    env = {**os.environ, "SLURM_CONF": str(conf)}
    log = open(folder / "daemons.out", "ab")  # noqa: SIM115 - the daemons write to it until stop
    processes: list[subprocess.Popen[bytes]] = []

    def spawn(*command: str) -> None:
        # Through the reaper: this test process may be a subreaper that would collect the daemons' orphans.
        processes.append(subprocess.Popen([sys.executable, str(REAPER), *command], env=env, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True))

    spawn("munged", "--foreground", "--force", f"--key-file={key}", f"--socket={munge_socket}",
          f"--pid-file={folder / 'munge' / 'munged.pid'}", f"--seed-file={folder / 'munge' / 'munged.seed'}",
          f"--log-file={folder / 'munge' / 'munged.log'}")
    cluster = Cluster(folder, conf, processes)
    if not _wait(lambda: munge_socket.exists(), timeout_s):
        cluster.stop()
        return f"munged did not start: {_tail(folder / 'munge' / 'munged.log')}"
    spawn("slurmctld", "-D", "-i", "-f", str(conf))
    spawn("slurmd", "-D", "-N", NODE, "-f", str(conf))

    def idle() -> bool:
        shown = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], env=env, capture_output=True, text=True)
        return shown.returncode == 0 and shown.stdout.strip() == "idle"

    if not _wait(idle, timeout_s):
        cluster.stop()
        logs = f"{_tail(folder / 'slurmctld.log')} {_tail(folder / 'slurmd.log')}"
        return f"the local Slurm cluster did not come up: {logs}"
    return cluster


def _wait(ready: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return True
        time.sleep(0.2)
    return False


def _tail(path: Path) -> str:
    try:
        return " | ".join(path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:])
    except OSError:
        return f"(no {path.name})"
