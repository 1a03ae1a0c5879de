"""Answers in Markdown render as formatting, never as markup that runs."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from agent.markdown import markdown_render


def test_lists_bold_code_and_tables_render():
    html = markdown_render(
        "**Three** customers:\n\n- Ada\n- Chen\n\n`SELECT 1`\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n"
    )

    assert "<strong>Three</strong>" in html
    assert "<li>Ada</li>" in html
    assert "<code>SELECT 1</code>" in html
    assert "<td>1</td>" in html


@pytest.mark.parametrize(
    "planted",
    [
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">click</a>',
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "<script>alert(1)</script>",
        '<svg onload="alert(1)"></svg>',
        "![x](http://attacker.example/pixel.png)",
        '<iframe src="https://attacker.example"></iframe>',
    ],
)
def test_raw_html_and_script_links_never_survive(planted):
    html = markdown_render(f"Result: {planted}")

    elements = _elements(html)
    assert {tag for tag, _ in elements} <= {"p", "a"}
    for _, attributes in elements:
        assert not [name for name in attributes if name.startswith("on")]
        href = attributes.get("href") or "https:"
        assert href.lower().startswith(("https:", "http:", "mailto:"))


def _elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    found: list[tuple[str, dict[str, str | None]]] = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, dict(attrs)))

    Collector().feed(html)
    return found


def test_links_keep_http_targets_and_are_marked_nofollow():
    html = markdown_render("[docs](https://example.com/a)")

    assert 'href="https://example.com/a"' in html
    assert 'rel="noopener noreferrer nofollow"' in html
