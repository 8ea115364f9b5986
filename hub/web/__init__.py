"""The hub's web room: the Litestar app, its routes, guards, templates, API models and security headers.

Handlers read and write through hub.store (never SQL) and the hub's domain modules; nothing outside
hub.web imports it, except the uvicorn factory path ``hub.app`` and the throttle's error response.
"""
