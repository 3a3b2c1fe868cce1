"""`python -m bnbench.doctor.probe`: print, as one JSON line, which GPU each CUDA device of this process is."""

from __future__ import annotations

import json
import os

from bnbench.doctor.gpus import probe_in_worker

if __name__ == "__main__":
    print(json.dumps(probe_in_worker(os.environ.get("CUDA_VISIBLE_DEVICES", ""))))
