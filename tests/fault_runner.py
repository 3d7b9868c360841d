"""Run ``python -m bqlab`` and send it a signal at a named point: fault injection for tests/test_faults.py.

    python tests/fault_runner.py POINT SIGNAL [report arguments ...]

The signal is sent by the runner to itself the first time it reaches POINT, so a test stops it
at a known moment instead of sleeping and hoping. POINT is one of ``POINTS``; SIGNAL is INT, TERM
or KILL. The runner itself is unchanged: the points are wrappers around its functions.
"""

import functools
import os
import signal
import sys
import threading

POINTS = {
    "preflight": "checking the table: the run folder is made and the first kernel is starting",
    "kernel-start": "a kernel process has just started (its connection file is written)",
    "mid-cell": "the training notebook's third code cell is being sent to its kernel",
    "rendering": "the first finished notebook is about to be rendered to HTML",
    "publishing": "the finished run folder is in place, the index not yet rewritten",
    "index-writing": "the new index is written to its temporary name, not yet renamed over the old one",
    "latest": "the index lists the new run, latest not yet moved to it",
}

_fired = threading.Event()


def _fire(sig: signal.Signals) -> None:
    if not _fired.is_set():
        _fired.set()
        os.kill(os.getpid(), sig)


def _after(module, name: str, sig, when=lambda *a, **k: True) -> None:
    original = getattr(module, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        if when(*args, **kwargs):
            _fire(sig)
        return result

    setattr(module, name, wrapper)


def _before(module, name: str, sig) -> None:
    original = getattr(module, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        _fire(sig)
        return original(*args, **kwargs)

    setattr(module, name, wrapper)


def install(point: str, sig: signal.Signals) -> None:
    """Wrap the runner's function at ``point`` so that reaching it sends ``sig``."""
    from jupyter_client.manager import AsyncKernelManager

    from bqlab.report import render
    from bqlab.runner import pipeline

    if point == "preflight":
        _before(pipeline, "check_data", sig)
    elif point == "kernel-start":
        original = AsyncKernelManager.start_kernel

        async def start_kernel(self, **kwargs):
            await original(self, **kwargs)
            _fire(sig)

        AsyncKernelManager.start_kernel = start_kernel
    elif point == "mid-cell":
        execute = pipeline.execute_notebook

        def execute_notebook(notebook, output, parameters, **kwargs):
            if notebook.stem == "02-train":
                progress = kwargs.get("on_cell")

                def on_cell(j: int, m: int) -> None:
                    if progress:
                        progress(j, m)
                    if j == 3:
                        _fire(sig)

                kwargs["on_cell"] = on_cell
            return execute(notebook, output, parameters, **kwargs)

        pipeline.execute_notebook = execute_notebook
    elif point == "rendering":
        _before(render, "render_reports", sig)
    elif point == "publishing":
        _after(pipeline, "publish", sig)
    elif point == "index-writing":
        write = render.write_atomically

        def write_atomically(path, text):
            if path.name == "index.html":
                path.with_name(f".{path.name}.tmp").write_text(text[: len(text) // 2], encoding="utf-8")
                _fire(sig)
            return write(path, text)

        render.write_atomically = write_atomically
    elif point == "latest":
        _before(pipeline, "point_latest", sig)
    else:
        raise SystemExit(f"unknown point {point!r}: one of {', '.join(POINTS)}")


if __name__ == "__main__":
    # As at a terminal: a test run in the background inherits SIGINT ignored, and Python then
    # installs no KeyboardInterrupt handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    point, name, *argv = sys.argv[1:]
    install(point, signal.Signals[f"SIG{name}"])
    from bqlab.cli import run

    run(argv)
