"""The request and answer bodies of the HTTP API (pydantic, only at this edge)."""
