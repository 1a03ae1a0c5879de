"""Team pages that read turns: a team's activity, and sharing an answer."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.types import AuthenticatedHttpRequest
from agent.selectors import team_activity_for_admin, turn_get_for_user
from agent.sharing import turn_share
from sqlagent_project.errors import ApplicationError
from teams.selectors import team_get_for_user

ACTIVITY_PER_PAGE = 50


@login_required
@require_GET
def team_activity(request: AuthenticatedHttpRequest, team_id: int) -> HttpResponse:
    """Who asked what on the team's connections (admins)."""
    turns = team_activity_for_admin(user=request.user, team_id=team_id)
    page = Paginator(turns, ACTIVITY_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "team": team_get_for_user(user=request.user, team_id=team_id),
        "turns": page,
        "page": page,
        "nav": "teams",
    }
    return render(request, "teams/activity.html", context)


@login_required
@require_POST
def turn_share_page(request: AuthenticatedHttpRequest, turn_id: int) -> HttpResponse:
    """Share an answer with its connection's team and open the shared page."""
    turn = turn_get_for_user(user=request.user, turn_id=turn_id)
    try:
        share = turn_share(user=request.user, turn=turn)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("chat")
    messages.success(request, "Shared with the team: every member can open this link.")
    return redirect("shared-turn-page", token=share.token)
