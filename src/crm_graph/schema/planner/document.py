"""Documents parsed and validated once, as strawberry would: the same token limit and rules.

A document strawberry would refuse (a syntax error, a rule it breaks, an unstorable literal) is not
compiled: strawberry answers it, with its own errors.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from graphql import (
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    Visitor,
    parse,
    specified_rules,
    visit,
)
from strawberry.extensions import AddValidationRules
from strawberry.schema.schema import validate_document

from crm_graph.schema.limits import literal_problem
from crm_graph.schema.planner.cache import LRU

CONDITIONS = ("skip", "include")


@dataclass(frozen=True)
class Document:
    digest: bytes
    node: DocumentNode
    fragments: dict[str, FragmentDefinitionNode]
    operations: list[OperationDefinitionNode]
    # Variables whose values decide @skip/@include: part of a plan's key.
    condition_variables: tuple[str, ...]
    # Directives other than @skip/@include appear: not compiled.
    other_directives: bool

    def operation(self, name: str | None) -> OperationDefinitionNode | None:
        """The operation a request names (or the only one), as graphql-core picks it."""
        if name is None:
            return self.operations[0] if len(self.operations) == 1 else None
        return next((o for o in self.operations if o.name and o.name.value == name), None)


class _Directives(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.variables: list[str] = []
        self.other = False

    def enter_directive(self, node: DirectiveNode, *_args: Any) -> None:
        if node.name.value not in CONDITIONS:
            self.other = True
            return
        for argument in node.arguments or ():
            if isinstance(argument.value, VariableNode):
                self.variables.append(argument.value.name.value)


class Documents:
    """Valid documents by digest of their text (bounded); None for a document not compiled."""

    def __init__(
        self, schema: Any, extensions: list[Any], max_tokens: int, size: int, roots: set[str]
    ) -> None:
        self.schema = schema
        # Query fields a plan can start from: other documents are not validated twice.
        self.roots = roots
        self.max_tokens = max_tokens
        extra = []
        for factory in extensions:
            extension = factory()
            if isinstance(extension, AddValidationRules):
                extra.extend(extension.validation_rules)
        self.rules = (*specified_rules, *extra)
        self.cache = LRU(size)

    def get(self, text: str) -> Document | None:
        digest = hashlib.sha256(text.encode()).digest()
        found = self.cache.get(digest)
        if found is None:
            found = self._load(text, digest) or False
            self.cache.put(digest, found)
        return found or None

    def _plannable(self, node: DocumentNode) -> bool:
        """Whether a query of the document starts only from fields a plan can start from
        (checked before validation, which costs more than parsing)."""
        return any(
            definition.operation is OperationType.QUERY
            and all(
                isinstance(selection, FieldNode) and selection.name.value in self.roots
                for selection in definition.selection_set.selections
            )
            for definition in node.definitions
            if isinstance(definition, OperationDefinitionNode)
        )

    def _load(self, text: str, digest: bytes) -> Document | None:
        try:
            node = parse(text, max_tokens=self.max_tokens)
        except (GraphQLError, RecursionError):
            return None
        if not self._plannable(node):
            return None
        if validate_document(self.schema._schema, node, self.rules):
            return None
        if literal_problem(node) is not None:
            return None
        directives = _Directives()
        visit(node, directives)
        return Document(
            digest=digest,
            node=node,
            fragments={
                d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)
            },
            operations=[d for d in node.definitions if isinstance(d, OperationDefinitionNode)],
            condition_variables=tuple(dict.fromkeys(directives.variables)),
            other_directives=directives.other,
        )
