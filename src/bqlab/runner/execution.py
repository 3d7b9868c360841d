"""Execute one notebook with papermill's Python API: progress per cell, timeouts, clear failures.

Progress comes from nbclient's own ``on_cell_start`` hook, passed through papermill; kernel
readiness is jupyter_client's ``wait_for_ready``.

Kernels are started ahead of their notebook (``WarmKernel``): the kernel process starts and
imports the notebook's libraries while the runner validates params or another notebook
runs, which hides most of the few seconds each kernel costs. Papermill and nbclient are
imported only when a notebook really runs, so a run with nothing to do never pays for them.
"""

import contextlib
import os
import queue
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bqlab.errors import NotebookFailed
from bqlab.jupyter import fast_notebook_imports
from bqlab.runner.fingerprint import imported_modules, notebook_code

KERNEL_NAME = "bqlab"
# The nice value of a notebook's kernel started while an earlier notebook of its run is running:
# the earlier one, whose report is read first, gets the cores first. Measured on 2 cores at 10M
# rows: the data analysis's cells took 12.8 s beside the training at equal priority (one core
# each), 8.9 s with the training at nice 10; the whole report took as long.
LOW_PRIORITY = 10

# on_cell(j, m): code cell j of m has started.
CellCallback = Callable[[int, int], None]

BANNER = """<div style="border: 2px solid #b00020; padding: .6em 1em; color: #b00020">
<strong>This notebook stopped before its end.</strong> {reason}
<a href="#bqlab-stopped-cell">Go to the cell where it stopped.</a></div>"""


def _engine():
    # lazy: papermill costs about 0.5 s; the no-op `bqlab report` imports this module and runs no notebook
    from papermill.engines import NBClientEngine

    class KeepStoppedEngine(NBClientEngine):
        """papermill's nbclient engine, also writing a notebook that a timeout or a dead kernel stopped.

        Without a save after every cell (quadratic), papermill writes the output notebook only
        when it ends or a cell raises; the report of a stopped notebook needs what ran.
        """

        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, stopped_path=None, **kwargs):
            try:
                return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)
            except Exception:
                # lazy: nbformat costs about 0.14 s, off the no-op `bqlab report` path
                import nbformat

                nbformat.write(nb_man.nb, stopped_path)
                raise

    return KeepStoppedEngine


def kernel_temp_dir() -> str:
    """The temp folder for kernel sockets: ``/tmp`` when $TMPDIR is too long for a socket path."""
    folder = tempfile.gettempdir()
    return folder if len(folder) <= SOCKET_DIR_MAX else "/tmp"


SOCKET_DIR_MAX = 60  # + "/bqlab-kernel-<pid>-<8>/ipc-5" stays within the 107 bytes of a socket path


class WarmKernel:
    """A kernel started now, in ``cwd``, that imports ``modules`` before any notebook needs it.

    The imports go through ``importlib`` so the notebook's namespace stays empty and its
    execution counts start at 1.
    """

    def __init__(self, cwd: Path, modules: list[str], env: Mapping[str, str] | None = None) -> None:
        # lazy: jupyter_client costs about 0.13 s, off the no-op `bqlab report` path
        from jupyter_client.manager import AsyncKernelManager

        # Kernel sockets as files in a private folder (short absolute path: socket paths are
        # limited to ~100 bytes), not unencrypted TCP ports other local users could reach. The
        # connection file (it holds the kernel's key) goes there too, and the folder is named
        # after this process so the next run removes it if this one is killed
        # (``runs.discard_stale_temp``).
        self._sockets = tempfile.mkdtemp(prefix=f"bqlab-kernel-{os.getpid()}-", dir=kernel_temp_dir())
        self.km = AsyncKernelManager(
            kernel_name=KERNEL_NAME,
            transport="ipc",
            ip=f"{self._sockets}/ipc",
            connection_file=f"{self._sockets}/kernel.json",
        )
        self.log = Path(self._sockets) / "kernel.log"
        self.error: BaseException | None = None
        self._low_priority = self._stopping = False
        self._lowering: threading.Thread | None = None
        self._thread = threading.Thread(target=self._start, args=(cwd, modules, env or {}), daemon=True)
        self._thread.start()

    def _start(self, cwd: Path, modules: list[str], env: Mapping[str, str]) -> None:
        # lazy: jupyter_client and jupyter_core (about 0.1 s), off the no-op `bqlab report` path
        from jupyter_client.blocking import BlockingKernelClient
        from jupyter_core.utils import run_sync

        try:
            # The kernel process's own stderr (start-up warnings, a crash, the traceback of a kernel
            # whose run folder an interrupt removed while it started) goes to a log beside its
            # sockets, not to the terminal, whose last line stays the runner's own; a kernel that
            # fails to start is reported with the log's last line.
            with open(self.log, "wb") as log:
                run_sync(self.km.start_kernel)(cwd=str(cwd), env={**os.environ, **env}, stderr=log)
            if self._low_priority:  # asked for while the process started
                self._yield_cores()
            if not modules or self._stopping:
                return
            client = BlockingKernelClient(parent=self.km)  # its liveness is the manager's
            client.load_connection_info(self.km.get_connection_info())
            client.start_channels()
            try:
                # jupyter_client's own wait: kernel_info until it answers, an error if the kernel dies.
                client.wait_for_ready(timeout=120)
                code = f"import importlib as _i\nfor _m in {modules!r}:\n    _i.import_module(_m)\ndel _i, _m"
                _await_reply(client, client.execute(code, silent=True, store_history=False))
            finally:
                client.stop_channels()
        except BaseException as err:  # noqa: BLE001 - reported when the kernel is used
            self.error = err

    def ready(self):
        """Wait until the kernel is up and warm, at the priority asked for; return its manager."""
        self._thread.join()
        if self._lowering:
            self._lowering.join()
        if self.error:
            said = self.log.read_text(errors="replace").strip().splitlines() if self.log.is_file() else []
            also = f" (the kernel said: {said[-1]})" if said else ""
            raise NotebookFailed(f"the Jupyter kernel {KERNEL_NAME!r} did not start: {self.error}{also}")
        return self.km

    @property
    def pid(self) -> int | None:
        """The kernel's process id, once started."""
        provisioner = self.km.provisioner
        return getattr(provisioner, "pid", None) if provisioner else None

    def lower_priority(self) -> None:
        """Let other processes have the cores first: the kernel runs at ``LOW_PRIORITY`` from now on.

        A kernel still starting gets it as soon as its process exists, so its imports yield too.
        """
        self._low_priority = True
        if self.pid:  # in a thread of its own: the change may wait up to 0.5 s (EAGAIN), not the caller
            self._lowering = threading.Thread(target=self._yield_cores, daemon=True)
            self._lowering.start()

    def _yield_cores(self, nice: int = LOW_PRIORITY) -> None:
        """Lower the kernel's priority to ``nice`` (best effort: nothing happens where it is not allowed).

        On Linux with autogroup scheduling each kernel is a session of its own, and the scheduler
        shares the cores between sessions whatever a thread's nice value: the session's nice is
        set (``/proc/<pid>/autogroup``) as well as each thread's (threads started later inherit
        it). Elsewhere the process's own priority.
        """
        pid, process = self.pid, getattr(self.km.provisioner, "process", None)
        if not pid or self.error or (process is not None and process.poll() is not None):
            return  # no process, or one that ended: its pid may be another process's by now
        for _ in range(5):  # Linux takes one autogroup change per 100 ms from a user: EAGAIN meanwhile
            try:
                Path(f"/proc/{pid}/autogroup").write_text(f"{nice}\n")
                break
            except BlockingIOError:
                time.sleep(0.1)
            except OSError:
                break
        try:
            threads = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            threads = [pid]
        for thread in threads:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, thread, max(nice, os.getpriority(os.PRIO_PROCESS, thread)))

    def peak_memory_mb(self) -> float | None:
        """The kernel process's peak resident memory so far (Linux ``VmHWM``), in MiB; None elsewhere."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except (OSError, TypeError):
            return None
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
        return round(int(match[1]) / 1024, 1) if match else None

    def shutdown(self) -> None:
        """Stop the kernel; one still starting is killed, not waited for (bad input stops the run at once)."""
        # lazy: jupyter_core costs about 25 ms, off the no-op `bqlab report` path
        from jupyter_core.utils import run_sync

        if self._thread.is_alive():
            self._stopping = True  # a process not started yet is not waited for once it is
            if self.pid:
                with contextlib.suppress(OSError):  # its start then ends at once: the kernel died
                    os.kill(self.pid, signal.SIGKILL)
        self._thread.join()
        try:
            if self.km.has_kernel:
                run_sync(self.km.shutdown_kernel)(now=True)
        except Exception:  # noqa: BLE001 - a kernel that is already gone is fine
            pass
        shutil.rmtree(self._sockets, ignore_errors=True)


def _await_reply(client, msg_id: str, limit: float = 300) -> None:
    """Wait for the reply to ``msg_id``, giving up at once if the kernel dies.

    jupyter_client's ``execute(reply=True)`` would wait out its whole timeout after a death
    (a kernel killed for memory while importing).
    """
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            reply = client.get_shell_msg(timeout=1)
        except queue.Empty:
            if not client.is_alive():
                raise RuntimeError("the kernel process ended while importing the notebooks' modules") from None
            continue
        if reply["parent_header"].get("msg_id") == msg_id:
            return
    raise TimeoutError(f"no reply from the kernel within {limit:.0f}s")


def warm_modules(notebooks_dir: Path) -> list[str]:
    """The modules a kernel imports ahead of time: those every notebook imports, and what they load lazily."""
    modules = set()
    for path in sorted(notebooks_dir.glob("*.ipynb")):
        modules |= set(imported_modules(notebook_code(path)))
    if "bqlab.analysis.modeling" in modules:
        modules.add("skops.io")  # modeling imports it on first save or load: seconds
    if "bqlab.sources" in modules:
        modules.add("bqlab.sources.embedded")  # open_source imports the default engine when called
    return sorted(modules)


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def thread_limits(parallel: int) -> dict[str, str]:
    """Thread counts for kernels run ``parallel`` at a time: the cores shared out, unless you set them.

    OpenMP and BLAS start a thread per core in every kernel; two kernels side by side then ask for
    twice the cores, and OpenMP's threads wait for each other: measured here (2 cores), 5-fold
    cross-validation of histogram boosting on 75,000 rows took 97 s beside the data analysis,
    against 18 s with a thread per kernel. A variable already set in the environment is kept.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = str(max(1, cores // max(parallel, 1)))
    return {name: threads for name in THREAD_VARIABLES if name not in os.environ}


class KernelPool:
    """Kernels started ahead of need; ``take`` hands out a warm one or starts a new one.

    Every other kernel imports the modules in the reverse order, the first one included. Where
    Python has not compiled them yet (a fresh clone's first report: some 2,000 modules, 7 s of
    compiling), two kernels starting side by side then compile different modules first and read
    what the other one wrote, instead of both compiling everything: measured on 2 cores, 8-9 s
    for both, against 11 s in the same order. The first kernel starts while the runner checks the
    table with pandas: it starts at the other end (scikit-learn), 1.3 s sooner to a first report
    here. Once compiled, the order makes no difference.
    """

    def __init__(self, cwd: Path, modules: list[str], spare: int = 1, env: Mapping[str, str] | None = None) -> None:
        self.cwd, self.modules, self.env = cwd, modules, env
        self.started = 0
        self._lock = threading.Lock()  # the scheduler takes, a notebook's thread tops up
        self.idle = [self._start() for _ in range(spare)]

    def _start(self) -> WarmKernel:
        self.started += 1
        return WarmKernel(self.cwd, self.modules[::-1] if self.started % 2 else self.modules, self.env)

    def take(self) -> WarmKernel:
        """Return a kernel for the next notebook (warm if one was started ahead)."""
        with self._lock:
            return self.idle.pop(0) if self.idle else self._start()

    def top_up(self) -> None:
        """Start a kernel for a notebook that will run later, if none is waiting."""
        with self._lock:
            if not self.idle:
                self.idle.append(self._start())

    def close(self) -> None:
        """Stop the kernels nobody took."""
        with self._lock:
            idle, self.idle = self.idle, []
        for kernel in idle:
            kernel.shutdown()


def execute_notebook(
    notebook: Path,
    output: Path,
    parameters: Mapping[str, Any],
    *,
    kernel: WarmKernel,
    cell_timeout: int,
    notebook_timeout: int,
    on_cell: CellCallback | None = None,
    measures: dict[str, Any] | None = None,
) -> None:
    """Run ``notebook`` into ``output`` on ``kernel`` (then stop it).

    The output notebook is written whether the run succeeds or fails. ``measures``, if given,
    receives ``peak_memory_mb``: the kernel's peak resident memory while it ran the notebook, and
    ``kernel_wait_seconds``: how long the notebook waited for its kernel to start and import.

    Raises:
        NotebookFailed: naming the notebook, the cell and the error or time limit.
    """
    fast_notebook_imports()
    # lazy, after fast_notebook_imports: nbformat, nbclient and papermill cost about 0.6 s; the
    # no-op `bqlab report` imports this module and runs no notebook
    import nbformat
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.engines import papermill_engines
    from papermill.exceptions import PapermillExecutionError

    papermill_engines.register("bqlab", _engine())
    code = [i for i, cell in enumerate(nbformat.read(notebook, as_version=4).cells) if cell.cell_type == "code"]
    current = {"cell": 0, "of": 0, "index": 0}

    def cell_start(cell, cell_index: int) -> None:
        """Count code cells as nbclient starts them (papermill's injected parameters cell is one)."""
        if cell.cell_type != "code":
            return
        current.update(cell=current["cell"] + 1, of=len(code) + 1, index=cell_index)
        if on_cell:
            on_cell(current["cell"], current["of"])

    timed_out = threading.Event()

    def stop_kernel() -> None:
        timed_out.set()
        if kernel.pid:
            os.kill(kernel.pid, signal.SIGKILL)

    watchdog = threading.Timer(notebook_timeout, stop_kernel)
    watchdog.daemon = True
    try:
        waiting = time.monotonic()
        km = kernel.ready()
        if measures is not None:
            measures["kernel_wait_seconds"] = round(time.monotonic() - waiting, 2)
        watchdog.start()  # the notebook's time starts when its kernel is ready
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters=dict(parameters),
            engine_name="bqlab",
            kernel_name=KERNEL_NAME,
            language="python",
            progress_bar=False,
            log_output=False,
            # Saving after every cell re-serialises the notebook each time (quadratic cost).
            request_save_on_cell_execute=False,
            autosave_cell_every=0,
            execution_timeout=cell_timeout,
            km=km,
            on_cell_start=cell_start,  # passed on to nbclient, which calls it before each cell
            stopped_path=str(output),
        )
    except PapermillExecutionError as err:
        raise NotebookFailed(
            f"notebook {notebook.stem} failed at code cell {current['cell']} of {current['of']} "
            # One line: a message that starts on a new line (scikit-learn's) would show nothing.
            f"(In [{err.exec_count}]): {err.ename}: {' '.join(str(err.evalue).split())}",
            notebook=notebook.stem,
            cell=current["cell"],
            cells=current["of"],
            error_name=err.ename,
        ) from None
    except Exception as err:  # noqa: BLE001 - nbclient's timeout and dead-kernel errors, among others
        where = f"code cell {current['cell']} of {current['of']}"
        name = type(err).__name__
        if timed_out.is_set():
            reason = f"past notebook_timeout_seconds={notebook_timeout} (params/runner.yaml); kernel stopped"
        elif isinstance(err, CellTimeoutError):
            reason = f"the cell exceeded cell_timeout_seconds={cell_timeout} (params/runner.yaml)"
        elif isinstance(err, DeadKernelError):
            reason = "the kernel died (killed, or out of memory)"
        else:
            reason = f"{name}: {err}"
        if output.is_file():
            _mark_stop(output, current["index"], f"It stopped at {where}: {reason}.")
        raise NotebookFailed(
            f"notebook {notebook.stem} stopped at {where}: {reason}",
            notebook=notebook.stem,
            cell=current["cell"],
            cells=current["of"],
            error_name=name,
        ) from None
    finally:
        watchdog.cancel()
        if measures is not None:
            measures["peak_memory_mb"] = kernel.peak_memory_mb()
        kernel.shutdown()


def _mark_stop(output: Path, cell_index: int, reason: str) -> None:
    """Add a banner at the top of a stopped notebook and an anchor before the cell that stopped."""
    # lazy: nbformat costs about 0.14 s, off the no-op `bqlab report` path
    import nbformat

    try:
        nb = nbformat.read(output, as_version=4)
    except ValueError:  # a notebook cut short (a full disk): nothing to mark
        return
    anchor = nbformat.v4.new_markdown_cell(
        '<span id="bqlab-stopped-cell"></span>**Execution stopped in the next cell.**'
    )
    nb.cells.insert(cell_index, anchor)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(BANNER.format(reason=reason)))
    nbformat.write(nb, output)
