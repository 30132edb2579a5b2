"""Checking HTML reports as a person would: balanced markup, and a headless-Chromium screenshot."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest


class Collector(HTMLParser):
    """Tags, attributes and unbalanced end tags of an HTML document."""

    VOID = {"meta", "link", "br", "img", "input", "hr", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> (open: {self.stack[-3:]})")
        else:
            self.stack.pop()


def collect(document: str) -> Collector:
    collector = Collector()
    collector.feed(document)
    collector.close()
    return collector


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium(purpose: str) -> str:
    """Chromium's path; without one the test skips, except in CI (DATAPLAN_REQUIRE_CHROMIUM=1), where it fails."""
    chromium = find_chromium()
    if chromium is None:
        message = f"no chromium / google-chrome on PATH to {purpose}"
        if os.environ.get("DATAPLAN_REQUIRE_CHROMIUM") == "1":  # set by .ci/run: CI never skips these
            pytest.fail(message + " (make test installs it with apt-get when run as root)")
        pytest.skip(message)
    return chromium


def screenshot(page: str, tmp_path: Path, width: int, height: int) -> bytes:
    """A PNG of ``page`` rendered offline by headless Chromium (skips when none is installed)."""
    chromium = require_chromium("take a screenshot with")
    html_file, png = tmp_path / "page.html", tmp_path / "page.png"
    html_file.write_text(page, encoding="utf-8")
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}", f"--window-size={width},{height}",
        html_file.as_uri(),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert png.exists(), result.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (width, height)
    return data
