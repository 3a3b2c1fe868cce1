# bnbench on an official CUDA-enabled PyTorch image. Build: docker build -t bnbench .
# Run:   docker run --rm --gpus all --ipc=host -v "$PWD/results:/results" \
#          -v /sys/devices/virtual/powercap:/host/powercap:ro bnbench run /opt/bnbench/scenarios/quick.toml
# The devel image, not the runtime one: torch.compile (Inductor, Triton) needs a C compiler at run time.
# The image's torch (CUDA build) satisfies bnbench's torch requirement, so pip keeps it; the build checks that.
ARG BASE_IMAGE=pytorch/pytorch:2.5.1-cuda12.4-cudnn9-devel
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="bnbench" \
      org.opencontainers.image.description="Energy-aware benchmarks of neural-network training tricks"

# BNBENCH_POWERCAP: container runtimes mask the host's /sys/devices/virtual/powercap (the RAPL counters), so
# the host folder is mounted at /host/powercap instead (see the Run line above).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BNBENCH_POWERCAP=/host/powercap

WORKDIR /opt/bnbench
COPY pyproject.toml README.md ./
COPY bnbench ./bnbench
COPY scenarios ./scenarios
# Install, then prove it: no broken requirement (pip check), the image's own CUDA torch still installed (not
# replaced by a CPU wheel from PyPI), and a C compiler for torch.compile.
RUN python -c "import torch; print(torch.__version__)" > /tmp/torch-before \
    && pip install --no-cache-dir . \
    && pip check \
    && python -c "import pathlib, shutil, torch; before = pathlib.Path('/tmp/torch-before').read_text().strip(); \
assert torch.version.cuda, f'torch {torch.__version__} is a CPU build'; \
assert torch.__version__ == before, f'pip replaced the image torch {before} with {torch.__version__}'; \
assert shutil.which('cc') or shutil.which('gcc'), 'no C compiler: torch.compile cannot work'" \
    && rm /tmp/torch-before \
    && useradd --create-home --no-log-init --uid 1000 bnbench \
    && mkdir /results \
    && chown bnbench:bnbench /results

# The user "bnbench" created above, by number so a host (and Kubernetes runAsNonRoot) can resolve it.
USER 1000:1000
# Results folders go under /results/reports/<scenario>/<timestamp>/: mount a host folder here to keep them.
WORKDIR /results
VOLUME ["/results"]
ENTRYPOINT ["bnbench"]
CMD ["--help"]
