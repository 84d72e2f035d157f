"""Fixtures shared by the data tests."""

from __future__ import annotations

import pytest

from harlab.data import download as dl
from tests.data.test_download import Server


@pytest.fixture()
def server(monkeypatch):
    """A local HTTP server for download tests (no waiting between resume attempts)."""
    monkeypatch.setattr(dl, "RETRY_WAIT", 0.0)
    s = Server()
    yield s
    s.release.set()
    s.httpd.shutdown()
    s.httpd.server_close()
