"""Redaction: secrets never shown, and the text around them keeps its shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dataplan import secrets
from dataplan.cli.app import app
from dataplan.secrets import redact


def test_a_password_inside_json_is_redacted_and_the_json_stays_valid() -> None:
    text = json.dumps({"objective": "reset password=NULL", "sample": ["password=abc", 1]})
    data = json.loads(redact(text))
    assert data == {"objective": "reset password=***", "sample": ["password=***", 1]}


def test_dsn_passwords_are_redacted() -> None:
    assert redact("host=db password=s3cret user=me") == "host=db password=*** user=me"
    assert redact("password='two words' next") == "password=*** next"
    assert redact("postgresql://me:s3cret@db:5432/x") == "postgresql://me:***@db:5432/x"


def test_a_url_password_with_a_raw_at_sign_is_masked_whole() -> None:
    assert redact("postgres+psycopg://u1:p@ss@localhost/db1") == "postgres+psycopg://u1:***@localhost/db1"
    compact = json.dumps({"dsn": "postgresql://me:pw@db/x", "email": "a@b.example"}, separators=(",", ":"))
    assert json.loads(redact(compact)) == {"dsn": "postgresql://me:***@db/x", "email": "a@b.example"}


@pytest.fixture
def fresh_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "_SECRETS", set())


@pytest.mark.usefixtures("fresh_secrets")
def test_a_short_password_is_masked_in_connection_strings_but_not_as_a_word() -> None:
    # Masking every "order" would tell a reader the password: only the connection string is masked.
    secrets.register_dsn("postgresql://u3:order@/db3?host=/tmp/pg")
    assert redact("# Plan: recount orders in int_customer_orders") == "# Plan: recount orders in int_customer_orders"
    assert redact("to postgresql://u3:order@/db3?host=/tmp/pg") == "to ***"  # the whole registered DSN
    assert redact("to postgresql://u3:order@/db4") == "to postgresql://u3:***@/db4"  # any URL's password


@pytest.mark.usefixtures("fresh_secrets")
def test_every_spelling_of_a_password_is_registered() -> None:
    assert secrets.dsn_passwords("postgresql://u:Hunter%402Secret@db/x") == {"Hunter%402Secret", "Hunter@2Secret"}
    in_query = secrets.dsn_passwords("postgresql://u@/x?host=/s&password=Long%20Secret9")
    assert in_query == {"Long%20Secret9", "Long Secret9"}
    assert secrets.dsn_passwords("host=/s user=u password='my secret word' dbname=x") == {"my secret word"}
    secrets.register_dsn("postgresql://u:Hunter%402Secret@db/x")
    assert redact("driver said: bad password Hunter@2Secret") == "driver said: bad password ***"
    # Number-like secrets are never replaced bare: they would change figures and JSON numbers.
    secrets.register_dsn("postgresql://u:12345678@db/x")
    assert redact('{"rows": 12345678}') == '{"rows": 12345678}'


def test_a_connection_message_masks_the_pieces_of_a_split_password() -> None:
    dsn = "postgresql://u1:Hunter@2Secret@localhost:5432/db1"
    message = "failed to resolve host '2Secret@localhost': Name or service not known"
    assert "2Secret" not in secrets.scrub_connection_message(message, dsn)


BAD_DSNS = [
    # (connection string, exit code, pieces of the password that must not be shown)
    ("postgresql://u1@/db1?host=/tmp/nowhere&password=Hunter2 Secret", 2, ["Hunter2", "Secret"]),
    ("postgresql://u1@/db1?host=/tmp/nowhere&password=50%offSecret", 2, ["offSecret"]),
    ("postgresql://u1:Hunter@2Secret@localhost:5432/db1", 3, ["Hunter", "2Secret"]),
    ("postgresql://u1:Hunter2\udcffSecret@/db1?host=/tmp/nowhere", 2, ["Hunter2", "Secret"]),
    ("postgres+psycopg://u1:p@ssword1@localhost/db1", 2, ["ssword1"]),
]


@pytest.mark.usefixtures("fresh_secrets")
@pytest.mark.parametrize(("dsn", "code", "pieces"), BAD_DSNS)
def test_a_bad_connection_string_shows_no_piece_of_its_password(
    dsn: str, code: int, pieces: list[str], tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, ["profile", "t", "--connection", dsn])
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert result.output.startswith("error: ")
    for piece in pieces:
        assert piece not in result.output


@pytest.mark.usefixtures("fresh_secrets")
def test_passwords_with_separators_libpq_accepts_are_registered_whole() -> None:
    assert secrets.dsn_passwords("host=h user=u password=abc;defghijk dbname=x") == {"abc;defghijk"}
    assert secrets.dsn_passwords("postgresql://u:pa?ss#word99@h/db") == {"pa?ss#word99"}
    secrets.register_dsn("host=h user=u password=abc;defghijk dbname=x")
    assert redact("connecting with password=abc;defghijk now") == "connecting with password=*** now"
