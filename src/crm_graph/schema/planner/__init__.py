"""The compiled read path: a validated query operation becomes a plan, run without resolvers.

A plan (built once per document, operation, caller's role and grants; see :mod:`.cache`) holds
one SQL statement per list level, selecting only the columns asked for with ownership scopes as
predicates, and a writer per level that turns rows into the response (:mod:`.shapes`). What the
planner cannot compile (mutations, introspection, a field with only a classic resolver, a
runtime argument error) is answered by strawberry, never wrongly: :mod:`.serve` says which.
"""
