"""Reading and checking an import file one batch ahead of the writer, in a process of its own.

Checking rows and writing them are both Python: in one process they take turns on Python's
lock, so a thread reading ahead gains little. A second process prepares the next batch on
another core while this one writes (on a million order rows a fifth to a third faster; see
``docs/benchmarks.md``). Each batch crosses over pickled when it is asked for, so at most one
waits and memory stays flat. Starting that process costs about half a second, more than a
small file takes: such a file is read in a thread of this process instead, by the same code.

The process is ``python -m crm_graph.io.reader``, talking over its standard input and output:
it loads only what reading needs, not the program that started it.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import struct
import subprocess
import sys
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import IO, Any

NEXT = b"n"  # what the writer sends to ask for the next item
_ITEM, _END, _ERROR = "item", "end", "error"
_SIZE = struct.Struct("!Q")  # each message: its length, then the pickle


class ReaderStopped(RuntimeError):
    """The reading process ended without a word (killed, out of memory)."""


def read_ahead(
    produce: Callable[..., Generator[Any, None, None]],
    *args: Any,
    separate: bool,
    later: Awaitable[Any] | None = None,
) -> AsyncGenerator[Any, None]:
    """Yield what ``produce(*args)`` yields, each item prepared while the caller works on the
    one before: in a process of its own if ``separate``, else in a thread. An exception raised
    there is raised here. ``produce`` and ``args`` must be picklable: a module-level function
    and plain data.

    ``later`` is a last argument still being worked out: it is awaited while the process
    starts (and loads what ``produce`` needs), then passed on.
    """
    return _in_process(produce, args, later) if separate else _in_thread(produce, args, later)


async def _in_thread(
    produce: Callable[..., Generator[Any, None, None]],
    args: tuple[Any, ...],
    later: Awaitable[Any] | None,
) -> AsyncGenerator[Any, None]:
    items = produce(*args) if later is None else produce(*args, await later)
    pending = asyncio.ensure_future(asyncio.to_thread(next, items, _END))
    try:
        while (item := await pending) is not _END:
            pending = asyncio.ensure_future(asyncio.to_thread(next, items, _END))
            yield item
    finally:
        await asyncio.wait([pending])  # the thread reads the file: let it finish first
        items.close()


async def _in_process(
    produce: Callable[..., Generator[Any, None, None]],
    args: tuple[Any, ...],
    later: Awaitable[Any] | None,
) -> AsyncGenerator[Any, None]:
    """The next item is asked for when the caller takes one, then received in a thread while
    the caller works on that one, and loaded when taken: at most one waits, as bytes (loading
    it meanwhile would hold Python's lock against the database driver's thread, and keep a
    batch of objects alive early)."""
    process = subprocess.Popen(
        [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert process.stdin is not None and process.stdout is not None
    finished = False
    receiving: asyncio.Future[bytes] | None = None
    try:
        # Where to find ``produce`` (a test module, say), ``produce`` (the process imports its
        # module meanwhile), then its arguments.
        _ask(process.stdin, _message(sys.path) + _message(produce))
        if later is not None:
            args = (*args, await later)
        _ask(process.stdin, _message(args) + NEXT)
        receiving = asyncio.ensure_future(asyncio.to_thread(_answer, process))
        while True:
            kind, value = pickle.loads(await receiving)
            if kind == _END:
                finished = True
                return
            if kind == _ERROR:
                finished = True
                raise value
            _ask(process.stdin, NEXT)
            receiving = asyncio.ensure_future(asyncio.to_thread(_answer, process))
            yield value
    finally:
        if not finished:
            process.kill()  # it may be reading ahead; what it read is not wanted
        if receiving is not None:
            await asyncio.wait([receiving])  # a killed reader's EOF ends it
            if not receiving.cancelled():
                receiving.exception()  # retrieved: that EOF is no news
        process.stdin.close()
        await asyncio.to_thread(process.wait)
        process.stdout.close()


def _ask(stream: IO[bytes], data: bytes) -> None:
    stream.write(data)
    stream.flush()


def _answer(process: subprocess.Popen[bytes]) -> bytes:
    """The next message from the reading process, pickled (blocking: run in a thread)."""
    assert process.stdout is not None
    try:
        return _pickled(process.stdout)
    except EOFError:
        raise ReaderStopped(
            f"the process reading the file stopped unexpectedly (exit code {process.wait()})"
        ) from None


def _message(value: Any) -> bytes:
    data = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    return _SIZE.pack(len(data)) + data


def _receive(stream: IO[bytes]) -> Any:
    return pickle.loads(_pickled(stream))


def _pickled(stream: IO[bytes]) -> bytes:
    """The next message, still pickled; EOFError when the stream ends before a whole one."""
    head = stream.read(_SIZE.size)
    if len(head) < _SIZE.size:
        raise EOFError
    size = _SIZE.unpack(head)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return data


def _serve() -> None:
    """The reading process: one item per request, then the end or the error."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the writer's to handle: it stops us
    requests = sys.stdin.buffer
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not reach the writer
    sys.path[:] = _receive(requests)
    try:
        produce = _receive(requests)
        items = produce(*_receive(requests))
        while requests.read(1) == NEXT:
            try:
                answer = _message((_ITEM, next(items)))
            except StopIteration:
                answer = _message((_END, None))
            answers.write(answer)
            answers.flush()
    except BrokenPipeError:
        return  # the writer has gone: nothing more is wanted
    except Exception as exc:  # every error is the writer's to report
        answers.write(_pickled_error(exc))
        answers.flush()


def _pickled_error(exc: Exception) -> bytes:
    try:
        return _message((_ERROR, exc))
    except Exception:  # an exception that cannot cross keeps its message
        return _message((_ERROR, RuntimeError(f"{type(exc).__name__}: {exc}")))


if __name__ == "__main__":
    _serve()
