"""How kernels are started: thread counts shared out among notebooks run side by side, and their priority."""

import os
import threading
import time
from pathlib import Path

import pytest

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


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads priorities from /proc (Linux)")
@pytest.mark.parametrize("when", ["while it starts", "once ready"])
def test_a_kernel_behind_another_notebook_runs_at_low_priority_in_every_thread_and_its_session(tmp_path, when):
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    kernel = execution.WarmKernel(tmp_path, ["json"])
    try:
        if when == "once ready":
            kernel.ready()
        kernel.lower_priority()
        kernel.ready()
        threads = [int(t) for t in os.listdir(f"/proc/{kernel.pid}/task")]
        assert {os.getpriority(os.PRIO_PROCESS, t) for t in threads} == {execution.LOW_PRIORITY}
        group = Path(f"/proc/{kernel.pid}/autogroup")
        if group.is_file():  # the scheduler shares the cores between sessions: the kernel's session yields too
            assert group.read_text().split()[-1] == str(execution.LOW_PRIORITY)
        assert os.getpriority(os.PRIO_PROCESS, 0) == mine, "the runner itself keeps its priority"
    finally:
        kernel.shutdown()


def test_a_kernel_stopped_while_it_imports_is_killed_not_waited_for(tmp_path):
    """Bad input found while the first kernel warms up (the table's check) stops the run at once."""
    (tmp_path / "slow_module.py").write_text(
        "import pathlib, time\npathlib.Path('importing').touch()\ntime.sleep(600)\n"
    )
    kernel = execution.WarmKernel(tmp_path, ["slow_module"])
    for _ in range(1200):  # the kernel's start, then its imports: seconds
        if (tmp_path / "importing").exists():
            break
        time.sleep(0.1)
    assert (tmp_path / "importing").exists(), "the kernel did not start importing"
    pid = kernel.pid
    stopping = threading.Thread(target=kernel.shutdown)
    stopping.start()
    stopping.join(timeout=120)  # the import alone would take 600 s
    assert not stopping.is_alive(), "shutdown waited for the kernel's imports"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(execution.NotebookFailed, match="did not start"):
        kernel.ready()


def test_every_other_kernel_imports_in_the_reverse_order(tmp_path, monkeypatch):
    """Two kernels warming up side by side on a cold bytecode cache compile different modules first."""
    orders = []
    monkeypatch.setattr(execution, "WarmKernel", lambda cwd, modules, env: orders.append(modules) or len(orders))
    pool = execution.KernelPool(tmp_path, ["a", "b", "c"])
    assert pool.take() == 1 and pool.take() == 2
    pool.top_up()
    assert orders == [["c", "b", "a"], ["a", "b", "c"], ["c", "b", "a"]]
