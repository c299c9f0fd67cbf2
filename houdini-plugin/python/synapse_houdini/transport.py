"""Which transport the plugin speaks, by platform (design §3).

Windows: a named pipe (:mod:`.transport_pipe`); elsewhere a Unix socket
(:mod:`.transport_unix`). Both give :class:`~synapse_houdini.rpc.RpcClient` the
same three calls (``sendall``, ``readline``, ``close``) and fail to connect with
the same exceptions (``FileNotFoundError`` when no daemon listens).
"""

from __future__ import annotations

import os
from typing import Any

from . import transport_pipe, transport_unix

#: Chosen once at import; tests flip it to run the Windows path on Linux.
IS_WINDOWS = os.name == "nt"


def default_address() -> str:
    """The daemon's address here: a pipe name on Windows, a socket path elsewhere."""
    if IS_WINDOWS:
        return transport_pipe.default_pipe_name()
    return transport_unix.default_socket_path()


def open_transport(address: str, timeout: float) -> Any:
    """Connect to the daemon at *address* with this platform's transport."""
    if IS_WINDOWS:
        return transport_pipe.connect_pipe(address, timeout)
    return transport_unix.connect_unix(address, timeout)


__all__ = ["IS_WINDOWS", "default_address", "open_transport"]
