from __future__ import annotations

from django.urls import path

from teams import api

urlpatterns = [
    path("teams", api.TeamListApi.as_view(), name="teams"),
    path("teams/<int:team_id>", api.TeamDetailApi.as_view(), name="team-detail"),
    path(
        "teams/<int:team_id>/members",
        api.MemberListApi.as_view(),
        name="team-members",
    ),
    path(
        "teams/<int:team_id>/members/<int:user_id>",
        api.MemberDetailApi.as_view(),
        name="team-member",
    ),
    path(
        "teams/<int:team_id>/invitations/<int:invitation_id>",
        api.InvitationDetailApi.as_view(),
        name="team-invitation",
    ),
]
