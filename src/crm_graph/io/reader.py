"""Reading and checking an import file one batch ahead of the writer, in a process of its own.

Checking rows and writing them are both Python: in one process they take turns on Python's
lock, so a thread reading ahead gains little. A second process prepares the next batch on
another core while this one writes (a fifth faster or more on large files; see
``docs/benchmarks.md``). Each batch crosses over pickled when it is asked for, so at most one
waits and memory stays flat. Starting that process costs about half a second, more than a
small file takes: such a file is read in a thread of this process instead, by the same code.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle
from collections.abc import AsyncGenerator, Callable, Generator
from multiprocessing.connection import Connection
from typing import Any

NEXT = b"next"  # what the writer sends to ask for the next item
_ITEM, _END, _ERROR = "item", "end", "error"
STOP_SECONDS = 5.0  # how long a reader may take to stop before it is terminated
# A fork server (started on first use, one per process) forks each reader with the importer
# already loaded; where there is none (Windows), each reader is a fresh interpreter.
START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
PRELOADED = ["crm_graph.io.importer"]


class ReaderStopped(RuntimeError):
    """The reading process ended without a word (killed, out of memory)."""


def read_ahead(
    produce: Callable[..., Generator[Any, None, None]], *args: Any, separate: bool
) -> AsyncGenerator[Any, None]:
    """Yield what ``produce(*args)`` yields, each item prepared while the caller works on the
    one before: in a process of its own if ``separate``, else in a thread. An exception raised
    there is raised here. ``produce`` and ``args`` must be picklable: a module-level function
    and plain data."""
    return _in_process(produce, args) if separate else _in_thread(produce(*args))


async def _in_process(
    produce: Callable[..., Generator[Any, None, None]], args: tuple[Any, ...]
) -> AsyncGenerator[Any, None]:
    context = multiprocessing.get_context(START_METHOD)
    if START_METHOD == "forkserver":
        context.set_forkserver_preload(PRELOADED)  # read when the server starts
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(theirs, produce, args), daemon=True)
    process.start()
    theirs.close()
    finished = False
    try:
        ours.send_bytes(NEXT)
        while True:
            kind, value = await asyncio.to_thread(_receive, ours, process)
            if kind == _END:
                finished = True
                return
            if kind == _ERROR:
                finished = True
                raise value
            ours.send_bytes(NEXT)
            yield value
    finally:
        if not finished:
            process.terminate()  # it may be reading ahead; what it read is not wanted
        await asyncio.to_thread(process.join, STOP_SECONDS)
        if process.is_alive():
            process.kill()
        ours.close()


async def _in_thread(items: Generator[Any, None, None]) -> AsyncGenerator[Any, None]:
    pending = asyncio.ensure_future(asyncio.to_thread(next, items, _END))
    try:
        while (item := await pending) is not _END:
            pending = asyncio.ensure_future(asyncio.to_thread(next, items, _END))
            yield item
    finally:
        await asyncio.wait([pending])  # the thread reads the file: let it finish first
        items.close()


def _receive(connection: Connection, process: multiprocessing.process.BaseProcess) -> Any:
    try:
        return pickle.loads(connection.recv_bytes())
    except EOFError:
        process.join(STOP_SECONDS)
        raise ReaderStopped(
            f"the process reading the file stopped unexpectedly (exit code {process.exitcode})"
        ) from None


def _serve(
    connection: Connection, produce: Callable[..., Generator[Any, None, None]], args: Any
) -> None:
    """The reading process: one item per request, then the end or the error."""
    try:
        items = produce(*args)
        while connection.recv_bytes() == NEXT:
            try:
                item = next(items)
            except StopIteration:
                connection.send_bytes(pickle.dumps((_END, None)))
                return
            connection.send_bytes(pickle.dumps((_ITEM, item), pickle.HIGHEST_PROTOCOL))
    except EOFError:
        return  # the writer has gone: nothing more is wanted
    except Exception as exc:  # every error is the writer's to report
        connection.send_bytes(_pickled_error(exc))


def _pickled_error(exc: Exception) -> bytes:
    try:
        return pickle.dumps((_ERROR, exc))
    except Exception:  # an exception that cannot cross keeps its message
        return pickle.dumps((_ERROR, RuntimeError(f"{type(exc).__name__}: {exc}")))
