"""What a report says about shared hardware: runs packed on a GPU, other tenants on it, other users on the host."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bnbench.rendering import format as fmt


def sharing_lines(runs: pd.DataFrame, manifest: dict[str, Any]) -> list[str]:
    """One sentence per fact: packed runs, runs whose GPU another process used, the host's other users. Empty
    when runs had their devices to themselves (or a folder predates the columns)."""
    lines = []
    run_order = manifest.get("run_order") or {}
    packed = int(run_order.get("runs_per_gpu") or 1)
    if packed > 1:
        lines.append(f"Runs were packed {packed} per GPU: each was charged its share of the board, and their wall "
                     f"times are those of runs sharing a GPU, not of a run alone{alike(run_order.get('packing'))}.")
    # A folder from before the column has none: an empty Series would not align with the runs' index.
    shared = pd.to_numeric(runs["gpu_shared"], errors="coerce") if "gpu_shared" in runs else None
    foreign = runs.iloc[:0] if shared is None else runs[shared > 0]
    if not foreign.empty:
        ids = ", ".join(f"{r.run_id} {float(r.gpu_shared):.0%}" for r in foreign.head(8).itertuples())
        more = f" and {len(foreign) - 8} more" if len(foreign) > 8 else ""
        ways = sorted({str(a) for a in foreign.get("gpu_attribution", pd.Series(dtype=str)).dropna() if str(a)})
        lines.append(f"{len(foreign)} run(s) shared their GPU with processes outside this session ({ids}{more} of "
                     f"readings); each was charged its share of the board ({', '.join(ways) or 'split'}), not the "
                     "whole of it.")
    attribution = runs["gpu_attribution"] if "gpu_attribution" in runs else pd.Series("", index=runs.index)
    unlisted = runs[attribution == "unlisted"]
    if not unlisted.empty:
        lines.append(f"NVML never listed {len(unlisted)} run(s) on their GPU while it listed other processes "
                     f"({', '.join(unlisted['run_id'].head(8))}{' and more' if len(unlisted) > 8 else ''}): their "
                     "share of the board is unknown, so their energy is not given.")
    others = pd.to_numeric(runs.get("host_others_pct", pd.Series(dtype=float)), errors="coerce").dropna()
    if not others.empty and others.max() >= 5.0:
        lines.append(f"Processes outside this session's runs used up to {fmt.significant(others.max())}% of the "
                     "host's busy CPU time; the host's energy was split by CPU time, so they were not charged to "
                     "the runs.")
    return lines


def alike(planned: dict[str, int] | None) -> str:
    """Whether the hand-out order packed every variant alike, from the manifest's `run_order.packing` (each run id:
    the runs planned on its GPU at once); '' for a folder from before it was recorded."""
    if not planned:
        return ""
    by_variant: dict[str, list[int]] = {}
    for run_id, k in planned.items():
        by_variant.setdefault(run_id.rpartition("-s")[0], []).append(int(k))  # run ids are VARIANT-sSEED
    if len({tuple(sorted(ks)) for ks in by_variant.values()}) == 1:
        return " (the hand-out order packed every variant alike)"
    each = "; ".join(f"{v} {', '.join(map(str, sorted(ks, reverse=True)))}" for v, ks in by_variant.items())
    return f" (the number of runs did not let every variant be packed alike; runs on their GPU at once: {each})"
