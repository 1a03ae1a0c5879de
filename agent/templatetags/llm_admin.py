"""Template tags for the admin's view of the language model."""

from __future__ import annotations

from django import template

from agent.llm.check import llm_check_last

register = template.Library()


@register.simple_tag
def llm_check_lines() -> list[str] | None:
    """Return the last LLM check's report lines, if a check ran."""
    return llm_check_last()
