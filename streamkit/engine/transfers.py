"""Who runs an engine's exports and imports (ExportTableToPointInTime, ImportTable).

The engine is passive: the operation records its job (``IN_PROGRESS``) and hands it to the
engine's :class:`TransferQueue`; it never starts a task. What happens next depends on whether
a worker is attached to the queue:

- a runtime (:func:`streamkit.open_runtime`, so ``streamkit serve`` and the test harness too)
  attaches one per engine (:func:`streamkit.runtime.run_transfers`): the call queues the job
  and answers at once, and the worker runs the job in a task of the runtime's task group;
  the runtime's exit cancels it, and the job ends ``FAILED``;
- with no worker attached (an engine alone), the call runs the job in the caller's own task
  before it returns, so nothing waits for a worker that never comes. The reply still says
  ``IN_PROGRESS``, as DynamoDB's always does; DescribeExport / DescribeImport already say how
  the job ended.

A job queued when the last worker detaches, or when the engine closes, never runs: it ends
``FAILED`` with a message saying why. A job already under a worker when the engine closes
ends as its work does.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio

from streamkit.clock import Clock, Signal

__all__ = ["TransferJob", "TransferQueue"]


@dataclass(eq=False)
class TransferJob:
    """One export or import: its description (updated as it runs) and the work to run."""

    #: the description DescribeExport / DescribeImport answer (a copy of)
    desc: dict[str, Any]
    #: its status member: ``"ExportStatus"`` or ``"ImportStatus"``
    status: str
    #: the work: fills in ``desc`` and ends it ``COMPLETED`` or ``FAILED``
    work: Callable[[], Coroutine[Any, Any, None]]
    clock: Clock

    @property
    def arn(self) -> str:
        """The export's or import's ARN."""
        return str(self.desc.get("ExportArn") or self.desc.get("ImportArn"))

    async def run(self) -> None:
        """Run the work. Cancelled, the job ends ``FAILED`` with ``FailureCode``
        ``Cancelled``; an unexpected error ends it ``FAILED`` too and is raised."""
        try:
            await self.work()
        except anyio.get_cancelled_exc_class():
            self.fail("Cancelled", "the job was cancelled while it ran")
            raise
        except Exception as exc:
            self.fail(type(exc).__name__, str(exc) or repr(exc))
            raise

    def fail(self, code: str, message: str) -> None:
        """End the job ``FAILED`` saying why, unless it has ended and said why already."""
        status = self.desc.get(self.status)
        if status == "COMPLETED" or (status == "FAILED" and "FailureCode" in self.desc):
            return
        self.desc[self.status] = "FAILED"
        self.desc.setdefault("EndTime", self.clock.now())
        self.desc.update(FailureCode=code, FailureMessage=message)


@dataclass(eq=False)
class TransferQueue:
    """An engine's export and import jobs waiting for a worker, or under one.

    It is also what the test harness's ``drain()`` waits on: :meth:`caught_up` is true when
    no job is queued or running, and :attr:`changed` fires whenever that may have changed.
    """

    #: fired when a job is queued, taken or ends, and when a worker attaches or detaches
    changed: Signal = field(default_factory=Signal)
    _queued: collections.deque[TransferJob] = field(default_factory=collections.deque)
    _taken: set[TransferJob] = field(default_factory=set)
    _inline: int = 0
    _workers: int = 0

    @property
    def attached(self) -> bool:
        """Whether a worker runs the jobs (else each runs inside its own call)."""
        return self._workers > 0

    async def submit(self, job: TransferJob) -> None:
        """Queue ``job`` for the attached worker, or, with none, run it here to its end."""
        if self._workers:
            self._queued.append(job)
            self.changed.fire()
            return
        self._inline += 1
        try:
            await job.run()
        finally:
            self._inline -= 1
            self.changed.fire()

    def take(self) -> TransferJob | None:
        """Return the oldest queued job for a worker to run (None: none queued). The job
        counts as under way until the worker calls :meth:`done` with it."""
        if not self._queued:
            return None
        job = self._queued.popleft()
        self._taken.add(job)
        return job

    def done(self, job: TransferJob) -> None:
        """Say that a job :meth:`take` returned has ended."""
        self._taken.discard(job)
        self.changed.fire()

    @contextmanager
    def attach(self) -> Iterator[None]:
        """Be a worker for the body: jobs submitted meanwhile queue instead of running inline.

        When the last worker detaches, every job it took without ending it (cancelled before
        it began) and every job still queued ends ``FAILED``."""
        self._workers += 1
        self.changed.fire()
        try:
            yield
        finally:
            self._workers -= 1
            if not self._workers:
                self._abandon("the runtime running the engine's exports and imports stopped")
            self.changed.fire()

    def close(self) -> None:
        """The engine closes: every job still queued ends ``FAILED``. A job a worker has taken
        is the worker's: it ends as its work ends (an error from the closed engine, the
        runtime's cancellation, or done), never marked failed under it while it runs."""
        self._abandon("the engine closed before the job began", taken=False)
        self.changed.fire()

    def _abandon(self, why: str, *, taken: bool = True) -> None:
        for job in [*(self._taken if taken else ()), *self._queued]:
            job.fail("Cancelled", why)
        if taken:
            self._taken.clear()
        self._queued.clear()

    @property
    def under_way(self) -> list[TransferJob]:
        """The jobs queued or under a worker (not those running inside their own call)."""
        return [*self._taken, *self._queued]

    async def caught_up(self) -> bool:
        """Whether no job is queued or under way."""
        return not (self._queued or self._taken or self._inline)
