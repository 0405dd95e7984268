"""ASGI entry point for uvicorn (``crm_graph.web.asgi:app``), configured from the environment."""

from crm_graph.web.app import create_app

app = create_app()
