"""The Teams pages: your teams, and one team's members, roles and invitations."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.types import AuthenticatedHttpRequest
from sqlagent_project.errors import ApplicationError
from teams import selectors, services
from teams.forms import BudgetForm, MemberAddForm, RoleForm, TeamForm
from teams.models import Invitation, TeamRole


@login_required
@require_http_methods(["GET", "POST"])
def team_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        team = services.team_create(user=request.user, name=form.cleaned_data["name"])
        messages.success(request, f"Team “{team}” created; you are its admin.")
        return redirect("team-page", team_id=team.pk)
    context = {
        "teams": selectors.team_list_for_user(user=request.user),
        "form": form,
        "nav": "teams",
    }
    return render(request, "teams/list.html", context)


@login_required
@require_http_methods(["GET"])
def team_page(request: AuthenticatedHttpRequest, team_id: int) -> HttpResponse:
    team = selectors.team_get_for_user(user=request.user, team_id=team_id)
    is_admin = team.role == TeamRole.ADMIN  # type: ignore[attr-defined]
    context = {
        "team": team,
        "is_admin": is_admin,
        "members": selectors.membership_list_for_team(team=team),
        "invitations": selectors.invitation_list_for_team(team=team),
        "add_form": MemberAddForm(),
        "budget_form": BudgetForm(
            initial={
                "asks_per_day": team.asks_per_day,
                "tokens_per_day": team.tokens_per_day,
            }
        ),
        "roles": TeamRole.choices,
        "nav": "teams",
    }
    return render(request, "teams/detail.html", context)


def _back(request: AuthenticatedHttpRequest, error: ApplicationError) -> None:
    messages.error(request, error.message)


@login_required
@require_POST
def member_add(request: AuthenticatedHttpRequest, team_id: int) -> HttpResponse:
    team = selectors.team_get_for_user(user=request.user, team_id=team_id, admin=True)
    form = MemberAddForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect("team-page", team_id=team.pk)
    try:
        result = services.member_add(
            team=team, invited_by=request.user, **form.cleaned_data
        )
    except ApplicationError as exc:
        _back(request, exc)
    else:
        email, added = form.cleaned_data["email"], result.added
        if not isinstance(added, Invitation):
            messages.success(request, f"{email} added as {added.role}.")
        elif result.emailed:
            messages.success(
                request,
                f"{email} invited as {added.role} and emailed the sign-up link: "
                "they join on signing up.",
            )
        else:
            messages.warning(
                request,
                f"{email} invited as {added.role}, but the email could not be "
                "sent: tell them to sign up with this address to join.",
            )
    return redirect("team-page", team_id=team.pk)


@login_required
@require_POST
def team_budget(request: AuthenticatedHttpRequest, team_id: int) -> HttpResponse:
    team = selectors.team_get_for_user(user=request.user, team_id=team_id, admin=True)
    form = BudgetForm(request.POST)
    if form.is_valid():
        services.team_update(team=team, **form.cleaned_data)
        messages.success(request, "The team's daily budget is saved.")
    else:
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
    return redirect("team-page", team_id=team.pk)


@login_required
@require_POST
def member_role(
    request: AuthenticatedHttpRequest, team_id: int, user_id: int
) -> HttpResponse:
    membership = selectors.membership_get_for_change(
        actor=request.user, team_id=team_id, user_id=user_id
    )
    form = RoleForm(request.POST)
    if form.is_valid():
        try:
            services.member_change_role(
                membership=membership, role=form.cleaned_data["role"]
            )
        except ApplicationError as exc:
            _back(request, exc)
        else:
            messages.success(
                request, f"{membership.user} is now {form.cleaned_data['role']}."
            )
    return redirect("team-page", team_id=team_id)


@login_required
@require_POST
def member_remove(
    request: AuthenticatedHttpRequest, team_id: int, user_id: int
) -> HttpResponse:
    membership = selectors.membership_get_for_change(
        actor=request.user, team_id=team_id, user_id=user_id, leaving=True
    )
    try:
        services.member_remove(membership=membership)
    except ApplicationError as exc:
        _back(request, exc)
        return redirect("team-page", team_id=team_id)
    if user_id == request.user.pk:
        messages.success(request, f"You left “{membership.team}”.")
        return redirect("team-list")
    messages.success(request, f"{membership.user} removed from the team.")
    return redirect("team-page", team_id=team_id)


@login_required
@require_POST
def invitation_withdraw(
    request: AuthenticatedHttpRequest, team_id: int, invitation_id: int
) -> HttpResponse:
    invitation = selectors.invitation_get_for_admin(
        actor=request.user, team_id=team_id, invitation_id=invitation_id
    )
    services.invitation_cancel(invitation=invitation)
    messages.success(request, f"Invitation of {invitation.email} withdrawn.")
    return redirect("team-page", team_id=team_id)


@login_required
@require_http_methods(["GET", "POST"])
def team_delete(request: AuthenticatedHttpRequest, team_id: int) -> HttpResponse:
    team = selectors.team_get_for_user(user=request.user, team_id=team_id, admin=True)
    if request.method == "POST":
        services.team_delete(team=team)
        messages.success(request, f"Team “{team}” and its connections deleted.")
        return redirect("team-list")
    context = {"team": team, "nav": "teams"}
    return render(request, "teams/confirm_delete.html", context)
