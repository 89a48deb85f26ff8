"""Running a uvicorn server as a task of ours: on a socket bound beforehand, stopped the way uvicorn expects."""

from __future__ import annotations

import asyncio
import socket

import uvicorn

__all__ = ["serve_until_cancelled"]


async def serve_until_cancelled(server: uvicorn.Server, sock: socket.socket) -> None:
    """Run uvicorn until cancelled, then stop it the way it expects (`should_exit`): cancelling `serve()` itself
    aborts its lifespan mid-await, and uvicorn logs that as a CancelledError traceback at ERROR."""
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        server.should_exit = True
        await serving
        raise
