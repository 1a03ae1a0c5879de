"""The "Pin to a board" form under an answer, for pages that show turns."""

from __future__ import annotations

from typing import Any

from django import template

from boards.selectors import board_list_for_user

register = template.Library()


@register.inclusion_tag("boards/_pin.html", takes_context=True)
def board_pin_form(context: dict[str, Any], turn: Any) -> dict[str, Any]:
    """Return what the pin form needs: the turn and the user's boards (read
    once per page)."""
    request = context["request"]
    boards = getattr(request, "_boards_for_pin", None)
    if boards is None:
        boards = list(board_list_for_user(user=request.user))
        request._boards_for_pin = boards
    return {"turn": turn, "boards": boards, "csrf_token": context.get("csrf_token")}
