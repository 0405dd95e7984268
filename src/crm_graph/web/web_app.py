"""The web app (``examples/spa``) served at ``/app`` from its built files.

Same origin as ``/graphql``, so the API's CORS stays closed. The files are public (they hold no
data: the app asks for an API key and sends it with each request), and are served with a
Content-Security-Policy that lets them talk to this origin only. When the app is not built, ``/app``
says how to build it instead of failing: the API works without node.
"""

from __future__ import annotations

from pathlib import Path

from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The source checkout's build output (src/crm_graph/web/ -> the repository root).
DEFAULT_BUILD = Path(__file__).resolve().parents[3] / "examples" / "spa" / "dist"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>crm-graph: web app not built</title></head>
<body><main><h1>The web app is not built</h1>
<p>The API is running at <a href="/graphql">/graphql</a>. To serve the web app here, install
Node.js 20+ and npm, then run <code>make app</code> (or <code>cd examples/spa &amp;&amp; npm ci
&amp;&amp; npm run build</code>) and reload this page; or point <code>CRM_WEB_APP_DIR</code> at
a built copy.</p></main></body></html>
"""


# Vite names the files under assets/ by their content's hash: a changed file is a new name, so
# browsers may keep these for good; index.html, which names them, is checked on every load.
FOREVER = b"public, max-age=31536000, immutable"
CHECK_EACH_TIME = b"no-cache"


class Secured:
    """Adds security and caching headers (``policy``: the app's by default) to every response of
    the wrapped files."""

    def __init__(self, app: ASGIApp, policy: str = CONTENT_SECURITY_POLICY) -> None:
        self.app = app
        self.policy = policy.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        caching = FOREVER if "/assets/" in scope.get("path", "") else CHECK_EACH_TIME

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"content-security-policy", self.policy),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cache-control", caching),
                ]
            await send(message)

        await self.app(scope, receive, send_secured)


def web_app_routes(directory: str | None) -> list[BaseRoute]:
    """``/app`` (redirected to ``/app/``) and the built files under it, from ``directory``
    (``CRM_WEB_APP_DIR``) or the checkout's ``examples/spa/dist``."""
    build = Path(directory) if directory else DEFAULT_BUILD

    async def to_slash(_request: object) -> Response:
        return RedirectResponse("/app/", status_code=308)

    if not (build / "index.html").is_file():

        async def not_built(_request: object) -> Response:
            return HTMLResponse(NOT_BUILT, status_code=503)

        return [Route("/app", to_slash), Route("/app/{path:path}", not_built)]
    # Compressed for clients that accept it: the main chunk is 281 kB, 84 kB gzipped.
    files = Secured(GZipMiddleware(StaticFiles(directory=build, html=True), minimum_size=500))
    return [Route("/app", to_slash), Mount("/app", app=files)]
