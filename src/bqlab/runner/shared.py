"""What the points of one sweep share when they run side by side (``make sweep``).

The sweep holds the reports lock for all its points and runs several at once, each an ordinary
run (``run_report``) that takes from one ``Shared``:

- notebook slots: at most ``slots`` notebooks at once over every point (``parallel_notebooks``,
  the cores shared out as for one run), and no new notebook while the peaks the running ones
  reached in earlier runs, plus its own, would pass the memory bound (one may always start);
- stages in flight: a stage whose inputs another point is computing is waited for, then reused
  from that point's folder, so a sweep over training params runs the data analysis once;
- one publisher at a time: the run folder, the content store, the index and ``latest``;
- a stop: Ctrl-C, SIGTERM or a broken point stops every point; unfinished runs are discarded.
"""

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

UNKNOWN_PEAK_MB = 1024.0  # a notebook never measured before: a kernel on a mid-size table
MEMORY_SHARE = 0.75  # of the memory available when the sweep starts


class Stopped(Exception):
    """The sweep was stopped while this point ran: its unfinished run is discarded."""


@dataclass(frozen=True)
class Made:
    """A stage a point finished: its run's folder (unfinished, or published), its record, the run's id."""

    partial: Path
    final: Path
    record: dict[str, Any]
    run_id: str

    def folder(self) -> Path:
        """Where the stage's outputs are now: in the run being written, or in the published run."""
        return self.partial if self.partial.is_dir() else self.final


def available_memory_mb() -> float:
    """The memory the system can give without swapping (MemAvailable), else the free memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 1024**2
    except (ValueError, OSError):  # a system that says neither (macOS has no SC_AVPHYS_PAGES): no bound
        return float("inf")


def peak_estimate(runs: Sequence[Mapping[str, Any]], stage: str) -> float:
    """A stage's notebook peak as the newest earlier run measured it (MB), or ``UNKNOWN_PEAK_MB``."""
    for run in runs:
        for record in run.get("stages", []):
            if record.get("stage") == stage and record.get("peak_memory_mb"):
                return float(record["peak_memory_mb"])
    return UNKNOWN_PEAK_MB


class Shared:
    """Notebook slots, stages in flight, the publisher's lock and the stop of one sweep's points."""

    def __init__(self, slots: int, memory_mb: float | None = None) -> None:
        """``slots`` notebooks at once within ``memory_mb`` (default: a share of the memory available now)."""
        self.slots = slots
        self.memory_mb = memory_mb if memory_mb is not None else MEMORY_SHARE * available_memory_mb()
        self.publishing = threading.RLock()
        self.stop = threading.Event()
        self._changed = threading.Condition()
        self._running: list[float] = []  # each running notebook's estimated peak
        self._in_flight: set[str] = set()
        self._made: dict[str, Made] = {}

    def take_slot(self, estimate_mb: float) -> bool:
        """Take a notebook slot if one is free and ``estimate_mb`` fits beside the running notebooks."""
        with self._changed:
            if len(self._running) >= self.slots:
                return False
            if self._running and sum(self._running) + estimate_mb > self.memory_mb:
                return False
            self._running.append(estimate_mb)
            return True

    def give_slot(self, estimate_mb: float) -> None:
        """Give back a slot ``take_slot`` gave."""
        with self._changed:
            self._running.remove(estimate_mb)
            self._changed.notify_all()

    def made(self, fingerprint: str) -> Made | None:
        """The stage another point finished with this fingerprint, if any."""
        with self._changed:
            return self._made.get(fingerprint)

    def claim(self, fingerprint: str) -> bool:
        """Whether the caller is to compute this stage: False while another point computes it."""
        with self._changed:
            if fingerprint in self._in_flight or fingerprint in self._made:
                return False
            self._in_flight.add(fingerprint)
            return True

    def finished(self, fingerprint: str, made: Made | None) -> None:
        """A claimed stage ended: reusable as ``made``, or (None) failed or stopped, so another point computes it."""
        with self._changed:
            self._in_flight.discard(fingerprint)
            if made is not None:
                self._made[fingerprint] = made
            self._changed.notify_all()

    def discarded(self, run_id: str) -> None:
        """The run ``run_id`` is discarded: the stages it made are made again by whoever needs them."""
        with self._changed:
            self._made = {f: m for f, m in self._made.items() if m.run_id != run_id}
            self._changed.notify_all()

    def wait(self, seconds: float = 0.5) -> None:
        """Wait until a slot is given back or a stage finishes (or ``seconds`` pass)."""
        with self._changed:
            self._changed.wait(seconds)
