"""Transport: the Starlette app, its middleware, HTTP and WebSocket authentication."""
