"""How kernels are started: thread counts shared out among notebooks run side by side."""

import os

from bqlab.runner import execution


def test_kernels_side_by_side_share_the_cores_and_a_thread_count_you_set_is_kept(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(4)))
    for name in execution.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert execution.thread_limits(2) == dict.fromkeys(execution.THREAD_VARIABLES, "2")
    assert execution.thread_limits(1)["OMP_NUM_THREADS"] == "4"
    assert execution.thread_limits(8)["OMP_NUM_THREADS"] == "1", "never fewer than one thread"
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert "OMP_NUM_THREADS" not in execution.thread_limits(2)
