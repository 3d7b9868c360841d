"""One exception family: every message names what is wrong and how to fix it.

Each error carries its context as attributes (the notebook, the cell, the report) and the exit
code the CLI returns for it: 2 for bad input, an unusable environment or a refused query, 1 for
a notebook that failed.
"""

from pathlib import Path


class BqlabError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code = 2


class ParamsError(BqlabError):
    """A params file is missing, malformed, or holds an unknown key or a wrong value."""


class DataError(BqlabError):
    """A table, column or query result is not what the params promise."""


class CostLimitError(DataError):
    """A query would process more bytes than the params allow."""


class PipelineError(BqlabError):
    """A stage of the report pipeline failed or could not start."""


class NotebookFailed(PipelineError):
    """A notebook stopped with an error; the executed notebook was still written.

    Attributes:
        notebook: its stem (``02-train``); cell and cells: the code cell it stopped at, of how
        many; error_name: the exception's name in the kernel (``ValueError``) or why it stopped
        (``CellTimeoutError``); report: the rendered report of the failed notebook, once known.
    """

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        notebook: str | None = None,
        cell: int | None = None,
        cells: int | None = None,
        error_name: str | None = None,
        report: Path | None = None,
    ) -> None:
        super().__init__(message)
        self.notebook, self.cell, self.cells, self.error_name, self.report = notebook, cell, cells, error_name, report


class Terminated(KeyboardInterrupt):
    """SIGTERM (docker stop, Kubernetes, CI): unwinds like Ctrl-C, so the same clean-up runs."""

    received = False  # set by the handler that raises it: code that sees only "interrupted" can tell


def interrupted() -> KeyboardInterrupt:
    """The interrupt to raise where a library caught the signal and raised its own error.

    DuckDB turns a signal during a query into "Query interrupted": Terminated after SIGTERM, else
    KeyboardInterrupt, so the runner's clean-up and exit code are those of the signal.
    """
    return Terminated() if Terminated.received else KeyboardInterrupt()
