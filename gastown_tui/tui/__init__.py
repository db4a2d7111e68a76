"""The Textual front end (tui/app.py is the app).

Importing this package imports asyncio as if Python had no ssl module (`_asyncio_without_tls`),
before Textual imports it.
"""

from __future__ import annotations

import sys


def _asyncio_without_tls() -> None:
    """asyncio imports ssl for its TLS transports (asyncio/sslproto.py), and ssl loads
    OpenSSL: ~6 MB resident, 3 MB of it libcrypto's pages, in an app that never opens a TLS
    connection through its event loop (agents and mayors reach their APIs from their own
    processes; a webhook posts with urllib from a patrol thread and imports ssl then,
    supervise/notify_route.py). asyncio supports a Python without ssl, so it loads as if ssl
    were missing; `import ssl` works as ever afterwards. The price: an asyncio TLS client in
    this process (an async HTTPS library) would fail with "Python ssl module is not
    available"; run such a client in a process of its own, as agents and mayors do."""
    if "asyncio" in sys.modules or "ssl" in sys.modules:
        return  # too late, or TLS is loaded anyway: nothing to save
    sys.modules["ssl"] = None  # type: ignore[assignment]  # `import ssl` raises ImportError
    try:
        import asyncio  # noqa: F401
    finally:
        if "ssl" in sys.modules and sys.modules["ssl"] is None:
            del sys.modules["ssl"]


_asyncio_without_tls()
