"""Redaction: secrets never shown, and the text around them keeps its shape."""

from __future__ import annotations

import json

from dataplan.secrets import redact


def test_a_password_inside_json_is_redacted_and_the_json_stays_valid() -> None:
    text = json.dumps({"objective": "reset password=NULL", "sample": ["password=abc", 1]})
    data = json.loads(redact(text))
    assert data == {"objective": "reset password=***", "sample": ["password=***", 1]}


def test_dsn_passwords_are_redacted() -> None:
    assert redact("host=db password=s3cret user=me") == "host=db password=*** user=me"
    assert redact("password='two words' next") == "password=*** next"
    assert redact("postgresql://me:s3cret@db:5432/x") == "postgresql://me:***@db:5432/x"
