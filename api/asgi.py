"""ASGI entry point for uvicorn: settings come from the GRIDMAP_ environment."""

from api.main import create_app

app = create_app()
