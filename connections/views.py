"""HTML pages for connections: list, add, edit, delete, test, connect, disconnect."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.types import AuthenticatedHttpRequest
from connections import services
from connections.forms import ConnectionForm, SessionConnectForm
from connections.selectors import (
    ConnectionAccess,
    connection_allows,
    connection_get_for_user,
    connection_list_for_user,
    connection_move_target_for_user,
)
from sqlagent_project.errors import ApplicationError


@login_required
@require_http_methods(["GET"])
def connection_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    session = services.session_get_or_create_active(user=request.user)
    connections = list(
        connection_list_for_user(user=request.user).select_related("team")
    )
    for connection in connections:
        # A team connection's settings and controls are for its admins.
        connection.can_manage = connection_allows(  # type: ignore[attr-defined]
            connection, ConnectionAccess.MANAGE
        )
    context = {
        "connections": connections,
        "session": session,
        "nav": "connections",
    }
    return render(request, "connections/list.html", context)


@never_cache  # a failed test shows the form again with the password typed
@login_required
@require_http_methods(["GET", "POST"])
def connection_add(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = ConnectionForm(
        request.POST or None,
        user=request.user,
        initial={"team": request.GET.get("team")} if request.GET.get("team") else None,
    )
    if request.method == "POST" and form.is_valid():
        check = None
        if form.cleaned_data.get("test_before_save"):
            check = services.connection_try(
                owner=request.user, **form.connection_fields
            )
        if check is not None and not check.ok:
            form.add_error(None, f"Not saved: the test failed. {check.error}")
        else:
            connection = services.connection_create(
                owner=request.user,
                team=form.cleaned_data.get("team"),
                **form.connection_fields,
            )
            tested = f" and tested ({check.latency_ms} ms)" if check else ""
            messages.success(request, f"Connection “{connection}” added{tested}.")
            return redirect("connection-list")
    context = {"form": form, "nav": "connections"}
    return render(request, "connections/form.html", context)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def connection_edit(
    request: AuthenticatedHttpRequest, connection_id: int
) -> HttpResponse:
    connection = connection_get_for_user(user=request.user, connection_id=connection_id)
    form = ConnectionForm(request.POST or None, instance=connection, user=request.user)
    if request.method == "POST" and form.is_valid():
        team = form.cleaned_data.get("team")
        moving = "team" in form.fields and connection.team_id != getattr(
            team, "pk", None
        )
        if moving:
            # Who may move it is checked before anything is written.
            team = connection_move_target_for_user(
                user=request.user,
                connection=connection,
                team_id=getattr(team, "pk", None),
            )
        connection = services.connection_update(
            connection=connection, **form.connection_fields
        )
        if moving:
            connection = services.connection_move(connection=connection, team=team)
        messages.success(request, f"Connection “{connection}” saved.")
        return redirect("connection-list")
    context = {"form": form, "connection": connection, "nav": "connections"}
    return render(request, "connections/form.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def connection_delete(
    request: AuthenticatedHttpRequest, connection_id: int
) -> HttpResponse:
    connection = connection_get_for_user(user=request.user, connection_id=connection_id)
    if request.method == "POST":
        name = str(connection)
        services.connection_delete(connection=connection)
        messages.success(request, f"Connection “{name}” deleted.")
        return redirect("connection-list")
    context = {"connection": connection, "nav": "connections"}
    return render(request, "connections/confirm_delete.html", context)


@login_required
@require_POST
def connection_test(
    request: AuthenticatedHttpRequest, connection_id: int
) -> HttpResponse:
    connection = connection_get_for_user(user=request.user, connection_id=connection_id)
    check = services.connection_test(connection=connection)
    if check.ok:
        messages.success(
            request,
            f"“{connection}” works: {check.latency_ms} ms, "
            f"server {check.server_version}.",
        )
        for warning in check.warnings:
            messages.warning(request, warning)
    else:
        messages.error(request, f"“{connection}” failed: {check.error}")
    return redirect("connection-list")


@login_required
@require_POST
def session_connect(
    request: AuthenticatedHttpRequest, connection_id: int | None = None
) -> HttpResponse:
    if connection_id is None:
        # The chat page's picker posts the connection as a form field.
        form = SessionConnectForm(request.POST, user=request.user)
        if not form.is_valid():
            messages.error(request, "Pick one of your connections.")
            return redirect("chat")
        connection = form.cleaned_data["connection"]
    else:
        connection = connection_get_for_user(
            user=request.user, connection_id=connection_id, need=ConnectionAccess.USE
        )
    session = services.session_get_or_create_active(user=request.user)
    try:
        session = services.session_connect(session=session, connection=connection)
    except ApplicationError as exc:
        # The page equivalent of the API's exception handler: a readable message.
        messages.error(request, f"Could not connect to “{connection}”: {exc.message}")
        return redirect("chat")
    # The session's warnings show once, on the chat page, with advice.
    messages.success(request, f"Connected to “{connection}”. Ask away.")
    return redirect("chat")


@login_required
@require_POST
def session_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Start a new conversation on the same database (a new session and thread)."""
    session = services.session_get_or_create_active(user=request.user)
    try:
        services.session_restart(session=session)
    except ApplicationError as exc:
        messages.error(request, f"Could not start a new chat: {exc.message}")
        return redirect("chat")
    messages.success(request, "New chat started. The previous one is under History.")
    return redirect("chat")


@login_required
@require_POST
def session_disconnect(request: AuthenticatedHttpRequest) -> HttpResponse:
    session = services.session_get_or_create_active(user=request.user)
    services.session_disconnect(session=session)
    messages.success(request, "Disconnected. Your conversation is kept under History.")
    return redirect("chat")
