"""The process that reads a large import file ahead of the writer: what goes wrong there is
reported here, never lost (the CLI side is in ``test_import_cli.py``)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import aclosing
from pathlib import Path

import pytest

from crm_graph.io.reader import ReaderStopped, read_ahead


def _two_then(ending: str) -> Iterator[str]:
    yield "first"
    yield "second"
    if ending == "error":
        raise ValueError("row 3 cannot be read")
    if ending == "death":
        os._exit(3)


async def _read(ending: str) -> list[str]:
    items: list[str] = []
    async for item in read_ahead(_two_then, ending, separate=True):
        items.append(item)
    return items


async def test_the_reader_hands_over_every_item_in_order() -> None:
    assert await _read("end") == ["first", "second"]


async def test_an_error_in_the_reader_is_raised_in_the_writer() -> None:
    with pytest.raises(ValueError, match="row 3 cannot be read"):
        await _read("error")


async def test_a_reader_that_dies_is_reported_with_its_exit_code() -> None:
    with pytest.raises(ReaderStopped, match="exit code 3"):
        await _read("death")


def _readers() -> list[str]:
    """This process's children that are readers."""
    found = []
    for children in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        for pid in children.read_text().split():
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            if "crm_graph.io.reader" in command:
                found.append(pid)
    return found


async def test_a_writer_that_stops_early_stops_the_reader() -> None:
    reading = read_ahead(_two_then, "end", separate=True)
    async with aclosing(reading):
        assert await anext(reading) == "first"
        assert len(_readers()) == 1
    assert _readers() == []


def _echo(*args: str) -> Iterator[tuple[str, ...]]:
    yield args


async def _worked_out(value: str) -> str:
    await asyncio.sleep(0.01)
    if value == "error":
        raise ValueError("the file cannot be checked")
    return value


@pytest.mark.parametrize("separate", [True, False], ids=["process", "thread"])
async def test_an_argument_worked_out_meanwhile_is_passed_last(separate: bool) -> None:
    reading = read_ahead(_echo, "first", separate=separate, later=_worked_out("last"))
    assert [item async for item in reading] == [("first", "last")]


async def test_an_argument_that_cannot_be_worked_out_stops_the_reader() -> None:
    with pytest.raises(ValueError, match="cannot be checked"):
        async for _ in read_ahead(_echo, separate=True, later=_worked_out("error")):
            pass
    assert _readers() == []
