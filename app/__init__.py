"""vidrag gateway: the HTTP API (FastAPI)."""
