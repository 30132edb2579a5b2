"""Keeping connection secrets out of everything dataplan shows or writes.

Connection strings are registered when the configuration is read (``register_dsn``);
``redact`` replaces every registered secret, and any password written inside a URL or a
``password=`` setting, with ``***``. All text that leaves the library for a terminal, a
log, a journal or a plan document goes through ``redact``.

A bare password is replaced wherever it appears only when it is long enough not to be a
word: masking every "order" in a plan would show a reader which word the password is.
Short passwords are still masked wherever they sit in a connection string, and the driver's
messages that could echo one alone are never shown (see the Postgres backend).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlsplit

_SECRETS: set[str] = set()
BARE_MINIMUM = 8  # shorter secrets are masked only where a connection string holds them
# A URL's password runs from the user's colon to the last "@" before the path: a raw "@" in it is
# common. It never crosses a quote, so a URL inside JSON keeps the JSON valid.
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://[^:/@\s\"']*:)(?P<pw>[^\s\"'/<>]+)@")
# An unquoted value ends at whitespace or at a delimiter of the text around it (JSON, a DSN list,
# a URL query), so redacting serialized JSON keeps it valid.
_KV_PASSWORD = re.compile(r"(?P<key>password\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|[^\s\"',;}\]&]+)", re.IGNORECASE)
_KV_VALUE = re.compile(r"password\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S+))", re.IGNORECASE)
_NUMBER = re.compile(r"[-+]?[\d.eE+-]+")
_DELIMITERS = re.compile(r"[@:/?&=\s'\"%]+")


def register_secret(value: str | None) -> None:
    # A number-like secret is never replaced bare: it would corrupt figures and JSON numbers, and it
    # only ever appears inside a connection string, which is masked by its shape.
    if value and len(value) >= BARE_MINIMUM and not _NUMBER.fullmatch(value):
        _SECRETS.add(value)


def dsn_passwords(dsn: str) -> set[str]:
    """The password of a connection string in each spelling a message may echo (raw and decoded)."""
    found: set[str] = set()
    if "://" in dsn:
        # The password may hold a raw "?", "/" or "@" (libpq accepts them): the userinfo ends at the last "@".
        userinfo, at, _host = dsn.split("://", 1)[1].rpartition("@")
        if at and ":" in userinfo:
            found.add(userinfo.split(":", 1)[1])
        try:
            query = urlsplit(dsn).query
        except ValueError:
            query = dsn.partition("?")[2]
        found |= {v for k, v in parse_qsl(query, keep_blank_values=True) if k.lower() == "password"}
        found |= {m.group("pw") for m in _KV_PASSWORD.finditer(query)}
    else:  # libpq's rule: an unquoted value runs to whitespace (";", "," and "&" included)
        found |= {m.group(1) or m.group(2) for m in _KV_VALUE.finditer(dsn)}
    return {s for p in found if p for s in (p, unquote(p))}


def register_dsn(dsn: str) -> None:
    """Register a connection string and the password inside it."""
    register_secret(dsn)
    for password in dsn_passwords(dsn):
        register_secret(password)


def scrub_connection_message(text: str, dsn: str) -> str:
    """``redact`` for a driver's message about ``dsn``: also masks every piece of its password.

    A password with a raw "@" or ":" is split by the driver, which then names a piece of it as a host
    or a port ("failed to resolve host '2Secret@localhost'"). Pieces are masked in this message only.
    """
    text = redact(text)
    pieces = {p for pw in dsn_passwords(dsn) for p in _DELIMITERS.split(pw) if len(p) >= 3}
    for piece in sorted(pieces, key=len, reverse=True):
        text = text.replace(piece, "***")
    return text


def redact(text: str) -> str:
    # Registered secrets first, longest first: the shape patterns would cut a password with a ";" or a
    # "?" short, and the rest of it would no longer match.
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _URL_PASSWORD.sub(lambda m: m.group("scheme") + "***@", text)
    return _KV_PASSWORD.sub(lambda m: m.group("key") + "***", text)
