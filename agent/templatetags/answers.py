"""Template filters for answers."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from agent.markdown import markdown_render

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    """Render an answer's Markdown; the HTML is sanitized by an allow-list."""
    return mark_safe(markdown_render(text))  # noqa: S308 - sanitized by nh3
