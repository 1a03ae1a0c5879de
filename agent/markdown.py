"""Render the model's answer (Markdown) as safe HTML.

The model writes Markdown, and the model reads text from the user's database,
so an answer can carry whatever HTML someone planted in the data. Raw HTML is
never passed through (markdown-it escapes it), and the rendered HTML goes
through an allow-list sanitizer (nh3, the ammonia bindings): only formatting
tags survive, links keep http(s)/mailto targets only, and images are dropped so
an answer cannot make the browser fetch anything.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

_ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "strong",
    "em",
    "del",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "a",
}
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"style"}, "td": {"style"}}
_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(
    ["table", "strikethrough"]
)


def markdown_render(text: str) -> str:
    """Return sanitized HTML for Markdown `text`; safe to mark as safe."""
    html = _md.render(text or "")
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        filter_style_properties={"text-align"},
        strip_comments=True,
    )
