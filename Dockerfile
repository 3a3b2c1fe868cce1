# bnbench on an official CUDA-enabled PyTorch image. Build: docker build -t bnbench .
# Run:   docker run --gpus all -v "$PWD/results:/results" bnbench run /opt/bnbench/scenarios/quick.toml --device auto
# The image's torch (CUDA build) satisfies bnbench's torch requirement, so pip keeps it.
ARG BASE_IMAGE=pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="bnbench" \
      org.opencontainers.image.description="Energy-aware benchmarks of neural-network training tricks"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/bnbench
COPY pyproject.toml README.md ./
COPY bnbench ./bnbench
COPY scenarios ./scenarios
RUN pip install --no-cache-dir . \
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
