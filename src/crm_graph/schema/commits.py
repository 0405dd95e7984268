"""A response never hides a commit.

A mutation's payload is built after its unit of work committed (its resolver's last lines, then
every field the client selected). An error there cannot undo the commit, and without a word the
client would take the mutation for failed and perhaps do it again. So :func:`perform` notes each
commit, and :class:`ReportCommits` says so in the response: every error under a committed
mutation carries ``extensions.committed: true``, and the response's ``extensions.committed``
lists the response keys of the mutations that committed whenever any error is present.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from strawberry.extensions import SchemaExtension

COMMITTED = "committed"


def note_commit(info: Any) -> None:
    """Called by ``perform`` once the work of the mutation field at ``info.path`` committed."""
    info.context.committed.append(info.path.key)


class ReportCommits(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        committed = getattr(self.execution_context.context, COMMITTED, None)
        if not committed or result is None or not result.errors:
            return
        for error in result.errors:
            if error.path and error.path[0] in committed:
                error.extensions = {**(error.extensions or {}), COMMITTED: True}

    def get_results(self) -> dict[str, Any]:
        result = self.execution_context.result
        committed = getattr(self.execution_context.context, COMMITTED, None)
        if committed and result is not None and result.errors:
            return {COMMITTED: list(committed)}
        return {}
