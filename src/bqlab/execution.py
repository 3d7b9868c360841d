"""Execute one notebook with papermill's Python API: progress per cell, timeouts, clear failures.

Papermill and nbclient are imported only when a notebook really runs: importing them costs
seconds (see FIELD-NOTES), which a run with nothing to do must not pay.
"""

import os
import signal
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bqlab.errors import PipelineError

KERNEL_NAME = "bqlab"

# on_cell(j, m): code cell j of m has started.
CellCallback = Callable[[int, int], None]

BANNER = """<div style="border: 2px solid #b00020; padding: .6em 1em; color: #b00020">
<strong>This notebook stopped before its end.</strong> {reason}
<a href="#bqlab-stopped-cell">Go to the cell where it stopped.</a></div>"""


class NotebookFailed(PipelineError):
    """A notebook stopped with an error; the executed notebook was still written."""


def _engine():
    from papermill.engines import NBClientEngine

    class ProgressEngine(NBClientEngine):
        """papermill's nbclient engine, reporting each code cell as it starts."""

        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, on_cell=None, stopped_path=None, **kwargs):
            code = [i for i, cell in enumerate(nb_man.nb.cells) if cell.cell_type == "code"]
            start = nb_man.cell_start

            def cell_start(cell, cell_index=None, **more):
                start(cell, cell_index, **more)
                if on_cell and cell_index in code:
                    on_cell(code.index(cell_index) + 1, len(code), cell_index)

            nb_man.cell_start = cell_start
            try:
                return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)
            except Exception:
                # A timeout or a dead kernel ends execution without papermill writing the
                # notebook: keep what ran so the report can show where it stopped.
                import nbformat

                nbformat.write(nb_man.nb, stopped_path)
                raise

    return ProgressEngine


def _kernel_manager_class(started: list):
    from jupyter_client.manager import AsyncKernelManager

    class TrackedKernelManager(AsyncKernelManager):
        """Kernel sockets as local files (not unencrypted TCP), and a handle for the watchdog."""

        def __init__(self, **kwargs):
            kwargs.setdefault("transport", "ipc")
            super().__init__(**kwargs)
            started.append(self)

    return TrackedKernelManager


def execute_notebook(
    notebook: Path,
    output: Path,
    parameters: Mapping[str, Any],
    *,
    cwd: Path,
    cell_timeout: int,
    notebook_timeout: int,
    on_cell: CellCallback | None = None,
) -> None:
    """Run ``notebook`` into ``output``; raise ``NotebookFailed`` naming the cell and the error.

    The output notebook is written whether the run succeeds or fails.
    """
    import papermill
    from papermill.engines import papermill_engines
    from papermill.exceptions import PapermillExecutionError

    papermill_engines.register("bqlab", _engine())
    current = {"cell": 0, "of": 0, "index": 0}

    def track(j: int, m: int, index: int) -> None:
        current.update(cell=j, of=m, index=index)
        if on_cell:
            on_cell(j, m)

    started: list = []
    timed_out = threading.Event()

    def stop_kernel() -> None:
        timed_out.set()
        pid = getattr(started[-1].provisioner, "pid", None) if started and started[-1].provisioner else None
        if pid:
            os.kill(pid, signal.SIGKILL)

    watchdog = threading.Timer(notebook_timeout, stop_kernel)
    watchdog.daemon = True
    watchdog.start()
    try:
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters=dict(parameters),
            engine_name="bqlab",
            kernel_name=KERNEL_NAME,
            language="python",
            cwd=str(cwd),
            progress_bar=False,
            log_output=False,
            # Saving after every cell re-serialises the notebook each time (quadratic cost).
            request_save_on_cell_execute=False,
            autosave_cell_every=0,
            execution_timeout=cell_timeout,
            kernel_manager_class=_kernel_manager_class(started),
            on_cell=track,
            stopped_path=str(output),
        )
    except PapermillExecutionError as err:
        raise NotebookFailed(
            f"notebook {notebook.stem} failed at code cell {current['cell']} of {current['of']} "
            f"(In [{err.exec_count}]): {err.ename}: {err.evalue}"
        ) from None
    except Exception as err:  # noqa: BLE001 - nbclient's timeout and dead-kernel errors, among others
        where = f"code cell {current['cell']} of {current['of']}"
        name = type(err).__name__
        if timed_out.is_set():
            reason = f"past notebook_timeout_seconds={notebook_timeout} (params/runner.yaml); kernel stopped"
        elif name == "CellTimeoutError":
            reason = f"the cell exceeded cell_timeout_seconds={cell_timeout} (params/runner.yaml)"
        elif name == "DeadKernelError":
            reason = "the kernel died (killed, or out of memory)"
        else:
            reason = f"{name}: {err}"
        if output.is_file():
            _mark_stop(output, current["index"], f"It stopped at {where}: {reason}.")
        raise NotebookFailed(f"notebook {notebook.stem} stopped at {where}: {reason}") from None
    finally:
        watchdog.cancel()


def _mark_stop(output: Path, cell_index: int, reason: str) -> None:
    """Add a banner at the top of a stopped notebook and an anchor before the cell that stopped."""
    import nbformat

    nb = nbformat.read(output, as_version=4)
    anchor = nbformat.v4.new_markdown_cell(
        '<span id="bqlab-stopped-cell"></span>**Execution stopped in the next cell.**'
    )
    nb.cells.insert(cell_index, anchor)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(BANNER.format(reason=reason)))
    nbformat.write(nb, output)
