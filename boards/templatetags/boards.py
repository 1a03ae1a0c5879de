"""The "Pin to a board" form under an answer, for pages that show turns."""

from __future__ import annotations

from typing import Any

from django import template

from agent.models import Thread
from boards.selectors import board_list_for_change
from boards.services import tile_accepts

register = template.Library()


@register.inclusion_tag("boards/_pin.html", takes_context=True)
def board_pin_form(context: dict[str, Any], turn: Any) -> dict[str, Any]:
    """Return what the pin form needs: the turn and the boards that would take
    it (the user's boards are read once per page)."""
    request = context["request"]
    boards = getattr(request, "_boards_for_pin", None)
    if boards is None:
        boards = board_list_for_change(user=request.user)
        request._boards_for_pin = boards
    accepting = boards
    if any(board.team_id is not None for board in boards):
        team_id = _thread_team_id(request, turn.thread_id)
        accepting = [board for board in boards if tile_accepts(board, team_id)]
    return {
        "turn": turn,
        "boards": accepting,
        "csrf_token": context.get("csrf_token"),
    }


def _thread_team_id(request: Any, thread_id: Any) -> int | None:
    """Return the team of the thread's connection (None: personal), read once
    per thread and page."""
    teams = getattr(request, "_board_thread_teams", None)
    if teams is None:
        teams = request._board_thread_teams = {}
    if thread_id not in teams:
        teams[thread_id] = (
            Thread.objects.filter(pk=thread_id)
            .values_list("db_connection__team_id", flat=True)
            .first()
        )
    return teams[thread_id]
