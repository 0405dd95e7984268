"""Authentication, authorisation, audit and privacy: who may do what, and what was done.

API keys and JWTs become a :class:`~crm_graph.auth.principal.Principal` (``http``,
``authenticate``); roles grant permissions with ownership scopes (``permissions``); fields
declare what they need (``declare``) and are guarded in one place (``guard``); rows are scoped
where they are read (``scope``); every mutation is audited in its transaction (``unit``,
``audit``); GDPR export, erasure and consent live in ``gdpr`` and ``consent``.
"""
