"""A call in a forked child: its result, its exception, a child that dies, and output written before the fork."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from bnbench.rendering.forked import ChildDied, Forked, Turns

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="figures are drawn in forked children on POSIX")


def test_the_result_comes_back_from_the_child_and_the_child_is_another_process():
    parent = os.getpid()
    pid, total = Forked(lambda a, b: (os.getpid(), a + b), 2, 3).result()
    assert total == 5 and pid != parent


def test_what_the_child_raised_is_raised_in_the_parent():
    def fail(path):
        raise FileNotFoundError(2, "No such file or directory", path)

    with pytest.raises(FileNotFoundError) as caught:
        Forked(fail, "/nowhere/figure.png").result()
    assert caught.value.filename == "/nowhere/figure.png"


def test_an_exception_that_cannot_be_pickled_comes_back_as_its_text():
    class Local(Exception):  # a class defined in a function does not pickle
        pass

    def fail():
        raise Local("the disk is full")

    with pytest.raises(RuntimeError, match="Local from a forked child: the disk is full"):
        Forked(fail).result()


def test_a_child_killed_before_it_answers_is_reported_with_its_exit_code():
    child = Forked(time.sleep, 30)
    os.kill(child._process.pid, signal.SIGKILL)
    with pytest.raises(ChildDied, match="exit code -9"):
        child.result()


def test_closing_stops_a_child_that_still_runs():
    child = Forked(time.sleep, 30)
    start = time.monotonic()
    child.close()
    assert not child._process.is_alive() and time.monotonic() - start < 10


def test_text_buffered_before_the_fork_is_written_once():
    # Into a pipe, print() buffers; a child that inherited the buffer unflushed would write it a second time.
    code = ("from bnbench.rendering.forked import Forked\n"
            "print('before the fork', end='')\n"
            "print(Forked(lambda: 'child').result())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout == "before the forkchild\n"


def test_a_sibling_forked_after_a_child_reads_its_result_and_the_parent_reads_nothing():
    # The report's power figure: one child reduces the samples, a second forked after it draws what it sends.
    producer = Forked(lambda: [1.5, 2.5])
    consumer = Forked(lambda: (os.getpid(), sum(producer.received())))
    pid, total = consumer.result()
    assert total == 4.0 and pid not in (os.getpid(), producer._process.pid)
    producer.close()
    assert producer._process.exitcode == 0


def test_a_sibling_hears_that_the_child_it_waits_on_died():
    producer = Forked(time.sleep, 30)
    consumer = Forked(lambda: producer.received())
    os.kill(producer._process.pid, signal.SIGKILL)
    producer.close()  # the parent's copy of the pipe closed too: the sibling sees its end
    with pytest.raises(ChildDied, match="ended before it had finished"):
        consumer.result()


def test_turns_hands_each_number_to_exactly_one_of_the_processes_that_ask():
    turns = Turns(200)

    def take(pause_s):
        taken = []
        while (turn := turns.next()) is not None:
            taken.append(turn)
            time.sleep(pause_s)
        return taken

    children = [Forked(take, 0.001), Forked(take, 0.001)]
    mine = take(0.001)
    theirs = [child.result() for child in children]
    turns.close()
    everyone = mine + theirs[0] + theirs[1]
    assert sorted(everyone) == list(range(200))  # none lost, none twice
    assert all(len(taken) > 0 for taken in (mine, *theirs))  # each process took some while the others drew
    assert mine == sorted(mine) and all(t == sorted(t) for t in theirs)  # in order, whoever asks


def test_turns_that_are_all_taken_read_as_none_and_a_count_beyond_a_byte_is_refused():
    turns = Turns(2)
    assert [turns.next(), turns.next(), turns.next()] == [0, 1, None]
    turns.close()
    empty = Turns(0)
    assert empty.next() is None
    empty.close()
    with pytest.raises(ValueError, match="0 to 256 numbers, not 257"):
        Turns(257)


def test_the_child_starts_with_the_parents_objects_frozen_and_the_parent_keeps_collecting_its_own():
    import gc

    held = [[i] for i in range(1000)]  # objects the garbage collector tracks, held across the fork
    assert gc.get_freeze_count() == 0
    assert Forked(gc.get_freeze_count).result() >= len(held)  # the child's collections never walk them
    assert gc.get_freeze_count() == 0
