"""HTML pages for boards: the list (and a form to create one, personal or a
team's), one board with its tiles run again (renamed or deleted by who may),
and pinning a turn from the chat."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.types import AuthenticatedHttpRequest
from agent.selectors import turn_get_for_user
from boards.selectors import (
    board_allows_change,
    board_get_for_change,
    board_get_for_user,
    board_list_for_user,
    team_get_for_board_create,
    team_list_for_board_create,
)
from boards.services import (
    board_create,
    board_delete,
    board_rename,
    board_tiles_refresh,
    tile_add,
)
from sqlagent_project.errors import ApplicationError


@login_required
@require_http_methods(["GET", "POST"])
def board_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.method == "POST":
        team = None
        if request.POST.get("team_id"):
            team = team_get_for_board_create(
                user=request.user, team_id=_int(request.POST, "team_id")
            )
        try:
            board = board_create(
                owner=request.user, name=request.POST.get("name", ""), team=team
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("board-list")
        messages.success(request, f"Board “{board}” created.")
        return redirect("board-page", board_id=board.pk)
    context = {
        "boards": board_list_for_user(user=request.user),
        "teams": team_list_for_board_create(user=request.user),
        "nav": "boards",
    }
    return render(request, "boards/list.html", context)


@login_required
@require_GET
def board_page(request: AuthenticatedHttpRequest, board_id: int) -> HttpResponse:
    board = board_get_for_user(user=request.user, board_id=board_id)
    context = {
        "board": board,
        "tiles": board_tiles_refresh(board=board, viewer=request.user),
        "can_change": board_allows_change(board, request.user),
        "refresh_s": settings.BOARD_REFRESH_S,
        "nav": "boards",
    }
    return render(request, "boards/board.html", context)


@login_required
@require_POST
def board_rename_page(request: AuthenticatedHttpRequest, board_id: int) -> HttpResponse:
    board = board_get_for_change(user=request.user, board_id=board_id)
    try:
        board_rename(board=board, name=request.POST.get("name", ""))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("board-page", board_id=board.pk)


@login_required
@require_POST
def board_delete_page(request: AuthenticatedHttpRequest, board_id: int) -> HttpResponse:
    board = board_get_for_change(user=request.user, board_id=board_id)
    board_delete(board=board)
    messages.success(request, f"Board “{board}” deleted.")
    return redirect("board-list")


@login_required
@require_POST
def tile_pin(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Pin a turn to a board (a new one when a name is given); back to the turn."""
    turn = turn_get_for_user(user=request.user, turn_id=_int(request.POST, "turn_id"))
    back = f"{reverse('chat')}#turn-{turn.pk}"
    try:
        name = request.POST.get("new_board", "").strip()
        if name:
            board = board_create(owner=request.user, name=name)
        else:
            board = board_get_for_change(
                user=request.user, board_id=_int(request.POST, "board_id")
            )
        tile_add(board=board, turn=turn)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    messages.success(request, f"Pinned to “{board}”.")
    return redirect(back)


def _int(data: object, name: str) -> int:
    try:
        return int(data.get(name, ""))  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return 0  # no such id: the selector answers 404
