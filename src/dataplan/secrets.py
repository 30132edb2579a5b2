"""Keeping connection secrets out of everything dataplan shows or writes.

Secrets are registered when the configuration is read; ``redact`` replaces
every registered secret (and any password inside a URL) with ``***``. All text
that leaves the library for a terminal, a log, a journal or a plan document
goes through ``redact``.
"""

from __future__ import annotations

import re

_SECRETS: set[str] = set()
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)@")
# An unquoted value ends at whitespace or at a delimiter of the text around it (JSON, a DSN list), so
# redacting serialized JSON keeps it valid.
_KV_PASSWORD = re.compile(r"(?P<key>password\s*=\s*)(?P<pw>'[^']*'|[^\s\"',;}\]]+)", re.IGNORECASE)


def register_secret(value: str | None) -> None:
    if value and len(value) >= 3:
        _SECRETS.add(value)


def redact(text: str) -> str:
    text = _URL_PASSWORD.sub(lambda m: m.group("scheme") + "***@", text)
    text = _KV_PASSWORD.sub(lambda m: m.group("key") + "***", text)
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
