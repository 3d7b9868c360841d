"""One exception family: every message names what is wrong and how to fix it."""


class BqlabError(Exception):
    """Base of every error this package raises on purpose."""


class ParamsError(BqlabError):
    """A params file is missing, malformed, or holds an unknown key or a wrong value."""


class DataError(BqlabError):
    """A table, column or query result is not what the params promise."""


class PipelineError(BqlabError):
    """A stage of the report pipeline failed or could not start."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (docker stop, Kubernetes, CI): unwinds like Ctrl-C, so the same clean-up runs."""
