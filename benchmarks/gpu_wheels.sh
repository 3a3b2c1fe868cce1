#!/usr/bin/env bash
# The wheels benchmarks/gpu_validation.sh needs on a GPU host that has torch, pandas, pyarrow, matplotlib and
# typer but no package index and no pydantic or tomli-w (the lent H200 image): fetched here, for that host's
# Python and processor, into a folder git ignores, to give the script as WHEELS.
#   bash benchmarks/gpu_wheels.sh                 # into .whl/, for CPython 3.12 on x86-64
#   PYVER=3.11 bash benchmarks/gpu_wheels.sh /tmp/wheels
set -eu
dest=${1:-.whl}
mkdir -p "$dest"
python3 -m pip download -q --only-binary=:all: --implementation cp --python-version "${PYVER:-3.12}" \
    --platform manylinux2014_x86_64 -d "$dest" "pydantic>=2.5" "tomli-w>=1.0"
ls "$dest"
