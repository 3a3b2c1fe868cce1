"""RunStore.rewind: a resumed run keeps exactly the rows its checkpoint counted, without truncating in place."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bnbench.results.store import RunStore, chunk_paths

COLUMNS = ["run_id", "step"]


def _store(tmp_path: Path) -> RunStore:
    store = RunStore.create(tmp_path / "out", {"scenario": {"name": "t"}}, {}, ["run_id", "status"])
    return store


def _write(store: RunStore, run_id: str, chunks: list[list[int]]) -> None:
    writer = store.writer("curves", run_id, COLUMNS)
    for steps in chunks:
        for step in steps:
            writer.append({"run_id": run_id, "step": step})
        writer.flush()


def _steps(store: RunStore, run_id: str) -> list[int]:
    frames = [pd.read_parquet(c) for c in chunk_paths(store.root, "curves", run_id)]
    return pd.concat(frames)["step"].tolist() if frames else []


def test_rows_after_the_checkpoint_are_dropped_from_chunks(tmp_path: Path):
    store = _store(tmp_path)
    _write(store, "a", [[1, 2], [3, 4, 5], [6]])  # 6 rows in 3 chunks
    first_chunk = chunk_paths(store.root, "curves", "a")[0]
    inode = first_chunk.stat().st_ino
    store.rewind("curves", "a", 4)  # the checkpoint had counted 4 rows: steps 1-4
    assert _steps(store, "a") == [1, 2, 3, 4]
    # Chunk 0 untouched, chunk 1 replaced by a new file (never cut in place), chunk 2 deleted.
    assert first_chunk.stat().st_ino == inode
    assert [p.name for p in chunk_paths(store.root, "curves", "a")] == ["curves-000000.parquet",
                                                                         "curves-000001.parquet"]
    writer = store.writer("curves", "a", COLUMNS)  # a resumed run's writer continues after them
    assert (writer.sequence, writer.written) == (2, 4)


def test_rows_folded_into_the_table_come_back_as_chunks(tmp_path: Path):
    store = _store(tmp_path)
    _write(store, "done", [[1, 2]])
    store.consolidate("curves", "done")
    _write(store, "cut", [[1, 2], [3, 4]])
    store.consolidate("curves", "cut")  # an interrupted run is folded in too
    store.rewind("curves", "cut", 3)
    folded = pd.read_parquet(store.root / "curves.parquet")
    assert folded["run_id"].tolist() == ["done", "done"]  # the other run is untouched
    assert _steps(store, "cut") == [1, 2, 3]
    _write(store, "cut", [[4, 5]])  # the resumed attempt
    store.consolidate("curves", "cut")
    table = pd.read_parquet(store.root / "curves.parquet")
    assert table[table["run_id"] == "cut"]["step"].tolist() == [1, 2, 3, 4, 5]


def test_rewind_to_nothing_leaves_no_rows(tmp_path: Path):
    store = _store(tmp_path)
    _write(store, "a", [[1, 2]])
    store.consolidate("curves", "a")
    store.rewind("curves", "a", 0)  # killed before its first checkpoint: it starts over
    assert _steps(store, "a") == [] and len(pd.read_parquet(store.root / "curves.parquet")) == 0
