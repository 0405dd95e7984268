"""GraphiQL, the page ``/graphql`` answers a browser, from files this package ships.

strawberry's page loads React and GraphiQL from a CDN: on a machine without internet it shows
only "Loading...". This page loads a pinned GraphiQL release (3.8.3, with the explorer plugin
and React 18.2.0: MIT, see ``graphiql/LICENSES.md``) from ``/graphiql/``, each file checked by
the browser against its release's sha384 (``integrity``), so it works offline and without node.
``start.js`` prefills the ``Authorization`` header from the key the web app (``/app``, same
origin) keeps in session storage. Like strawberry's, the page is there only while the schema is
exposed (outside production: ``CRM_ENV``).
"""

from __future__ import annotations

from pathlib import Path

from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from crm_graph.web.web_app import Secured

FILES = Path(__file__).with_name("graphiql")

# GraphiQL's editor and the explorer set inline styles and its fonts are data: URLs; scripts,
# requests and sockets stay on this origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "font-src 'self' data:; img-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def graphiql_page() -> HTMLResponse:
    """The page itself (served at ``/graphql`` to a browser asking for HTML)."""
    return HTMLResponse(
        (FILES / "index.html").read_text(),
        headers={
            "content-security-policy": CONTENT_SECURITY_POLICY,
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            "cache-control": "no-cache",
        },
    )


def graphiql_routes() -> list[BaseRoute]:
    """The page's files under ``/graphiql/`` (public: they hold no data)."""
    files = GZipMiddleware(StaticFiles(directory=FILES), minimum_size=500)
    return [Mount("/graphiql", app=Secured(files, CONTENT_SECURITY_POLICY))]
