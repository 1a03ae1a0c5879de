"""The Content-Security-Policy header itself, without a browser (the browser
walk of every page under it is in test_browser_csp.py)."""

from __future__ import annotations

import re

from django.test import Client

from sqlagent_project.csp import csp_policy

NONCE = re.compile(r"script-src 'self' 'nonce-([A-Za-z0-9_-]{22})'")


def test_the_policy_allows_only_this_site_and_names_a_fresh_nonce_each_time(db):
    client = Client()
    first = client.get("/accounts/login/")["Content-Security-Policy"]
    second = client.get("/accounts/login/")["Content-Security-Policy"]

    assert NONCE.search(first).group(1) != NONCE.search(second).group(1)
    directives = dict(part.split(" ", 1) for part in csp_policy("n").split("; "))
    assert directives["default-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp_policy("n")
    assert "http" not in csp_policy("n")  # no remote origin anywhere


def test_djangos_own_debug_error_pages_keep_their_inline_styles_only_with_debug(
    db, settings
):
    client = Client()
    page_404 = client.get("/no-such-page", HTTP_ACCEPT="text/html")
    assert "Content-Security-Policy" in page_404

    settings.DEBUG = True
    debug_404 = client.get("/no-such-page", HTTP_ACCEPT="text/html")
    assert "Content-Security-Policy" not in debug_404
    assert "Content-Security-Policy" in client.get("/accounts/login/")


def test_no_page_template_inlines_a_script_or_a_style():
    from django.conf import settings

    for path in (settings.BASE_DIR / "templates").rglob("*.html"):
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*json)", text), path
        assert "<style" not in text, path
        assert not re.search(r"\sstyle=", text), path
        assert not re.search(r"\son[a-z]+=", text), path
