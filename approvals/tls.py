"""The TLS context a process makes its HTTPS connections with (to Slack, to webhooks, to the approval API).

Python's urllib, which slack_sdk's WebClient and WebhookClient use, makes a new default context for each
connection it is given none for, and a default context loads the system's trusted certificates again, which costs
several times the CPU of the rest of a Slack call (bench/RESULTS.md, "Slack over HTTPS"). One context a process,
loaded once, is shared by every connection.
"""

from __future__ import annotations

import functools
import ssl


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The system's trusted certificates (or `SSL_CERT_FILE`'s), loaded once a process."""
    return ssl.create_default_context()
