"""Bounded compute for the server: at most N jobs at once, each stopped at its wall-time bound.

A request's work (an engine run, a critical-point search) runs in a thread of its own. It first
waits for a compute slot, up to ``queue_seconds``: a request that gets none is :class:`Busy`
(told to retry) and never runs. Once it holds a slot, the event loop waits for it up to the
wall-time bound, counted from the moment it started computing; past that it is
:class:`OverTime` and the job is *stopped*: an exception is raised asynchronously in its thread
(``PyThreadState_SetAsyncExc``), which takes effect at the job's next Python bytecode, i.e.
within one optimizer step. So a request that would take hours (L-BFGS from 64 starts for 5000
steps, say) cannot hold a compute slot after its answer was given up. A job holds its slot until
its thread really ends, so at most ``max_concurrent`` jobs ever compute at once.
"""

from __future__ import annotations

import asyncio
import ctypes
import threading
import time
from collections.abc import Callable
from typing import Any


class JobStopped(BaseException):
    """Raised asynchronously inside a job's thread when its answer was abandoned."""


class Busy(Exception):
    """No compute slot became free within the queue time; the job never ran."""


class OverTime(Exception):
    """The job ran past the wall-time bound (and was stopped)."""


def _checkpoint() -> None:
    """A Python-level call: the interpreter delivers any pending asynchronous exception here."""


class _Job(threading.Thread):
    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        slots: threading.BoundedSemaphore,
        deadline: float,
        deliver: Callable[[bool, Any], None],
        finished: Callable[[_Job], None] | None = None,
        started: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name="descentlab-job", daemon=True)
        self.finished = finished
        self.started = started
        self._cancelled = False
        self.fn = fn
        self.args = args
        self.slots = slots
        self.deadline = deadline
        self.deliver = deliver
        self._lock = threading.Lock()
        self._computing = False
        self._done = False

    def run(self) -> None:
        try:
            try:
                self._run()
            finally:
                if self.finished is not None:
                    self.finished(self)
        except JobStopped:  # a stop that arrived after the work itself had ended
            pass

    def _run(self) -> None:
        if not self.slots.acquire(timeout=max(self.deadline - time.monotonic(), 0.0)):
            self.deliver(False, Busy())
            return
        ok, value = False, None
        try:
            with self._lock:
                if self._cancelled:  # the request gave up waiting: never start
                    return
                self._computing = True
            if self.started is not None:
                self.started()
            try:
                value, ok = self.fn(*self.args), True
            except JobStopped:
                ok, value = False, OverTime()
            except BaseException as exc:  # handed to the request, raised there
                ok, value = False, exc
            with self._lock:
                self._done = True
            _checkpoint()
        finally:
            self.slots.release()
        self.deliver(ok, value)

    def cancel_if_waiting(self) -> bool:
        """Make a job still waiting for a slot never run; False if it already started."""
        with self._lock:
            if self._computing:
                return False
            self._cancelled = True
            return True

    def stop(self) -> bool:
        """Raise :class:`JobStopped` in the job's thread if it is still computing."""
        with self._lock:
            if not self._computing or self._done or self.ident is None:
                return False
            n = ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self.ident), ctypes.py_object(JobStopped)
            )
            return n == 1


class ComputePool:
    """Run blocking functions off the event loop, bounded in number and in wall time.

    Args:
        max_concurrent: jobs computing at once.
        wall_seconds: a job still computing this long after it started is stopped
            (:class:`OverTime`).
        queue_seconds: a job that found no free slot within this long never runs
            (:class:`Busy`); default ``wall_seconds``.

    Example:
        >>> pool = ComputePool(max_concurrent=2, wall_seconds=5.0)  # doctest: +SKIP
        >>> result = await pool.run(sum, [1, 2, 3])  # doctest: +SKIP
    """

    def __init__(
        self, max_concurrent: int, wall_seconds: float, queue_seconds: float | None = None
    ) -> None:
        self.slots = threading.BoundedSemaphore(max_concurrent)
        self.wall_seconds = float(wall_seconds)
        self.queue_seconds = float(wall_seconds if queue_seconds is None else queue_seconds)
        self._live: set[_Job] = set()
        self._live_lock = threading.Lock()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every job still running and wait for their threads (server shutdown).

        A thread still inside torch when the interpreter exits would abort the process.
        """
        with self._live_lock:
            jobs = list(self._live)
        for job in jobs:
            job.cancel_if_waiting()
            job.stop()
        end = time.monotonic() + timeout
        for job in jobs:
            job.join(max(end - time.monotonic(), 0.0))

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a job thread.

        Raises:
            Busy: no slot within ``queue_seconds`` (the job never ran).
            OverTime: still computing ``wall_seconds`` after it started (it is stopped).
        """
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[tuple[bool, Any]] = loop.create_future()
        began: asyncio.Future[None] = loop.create_future()

        def settle(ok: bool, value: Any) -> None:
            if not fut.done():
                fut.set_result((ok, value))

        def mark_started() -> None:
            if not began.done():
                began.set_result(None)

        def deliver(ok: bool, value: Any) -> None:
            try:
                loop.call_soon_threadsafe(settle, ok, value)
            except RuntimeError:  # the loop is gone (client left, server stopping)
                pass

        def started() -> None:
            try:
                loop.call_soon_threadsafe(mark_started)
            except RuntimeError:
                pass

        def finished(job: _Job) -> None:
            with self._live_lock:
                self._live.discard(job)

        # the thread's own slot wait ends a little after ours, so the loop decides "busy"
        deadline = time.monotonic() + self.queue_seconds + 1.0
        job = _Job(fn, args, self.slots, deadline, deliver, finished, started)
        with self._live_lock:
            self._live.add(job)
        job.start()
        done, _ = await asyncio.wait(
            {began, fut}, timeout=self.queue_seconds, return_when=asyncio.FIRST_COMPLETED
        )
        if not done and job.cancel_if_waiting():
            raise Busy()
        if fut.done() and not began.done():  # refused before it could start
            ok, value = fut.result()
            if ok:
                return value
            raise value
        try:
            ok, value = await asyncio.wait_for(asyncio.shield(fut), timeout=self.wall_seconds)
        except TimeoutError:
            job.stop()
            raise OverTime() from None
        if ok:
            return value
        raise value


def call_with_deadline(fn: Callable[..., Any], seconds: float, *args: Any) -> Any:
    """``fn(*args)`` in a helper thread, stopped after ``seconds`` (then :class:`OverTime`).

    For a bounded step inside a job (a critical-point search that may never settle); if the
    calling job is itself stopped meanwhile, the helper is stopped too.
    """
    box: dict[str, tuple[bool, Any]] = {}
    done = threading.Event()

    def deliver(ok: bool, value: Any) -> None:
        box["result"] = (ok, value)
        done.set()

    job = _Job(fn, args, threading.BoundedSemaphore(1), time.monotonic() + seconds, deliver)
    job.start()
    try:
        finished = done.wait(seconds)
    except BaseException:
        job.stop()
        job.join(5.0)
        raise
    if not finished:
        job.stop()
        job.join(5.0)
        raise OverTime()
    ok, value = box["result"]
    if ok:
        return value
    raise value
