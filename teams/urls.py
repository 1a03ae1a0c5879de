from __future__ import annotations

from django.urls import path

from teams import api, views

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
    # HTML pages
    path("teams/", views.team_list, name="team-list"),
    path("teams/<int:team_id>/", views.team_page, name="team-page"),
    path("teams/<int:team_id>/members/add/", views.member_add, name="team-member-add"),
    path(
        "teams/<int:team_id>/members/<int:user_id>/role/",
        views.member_role,
        name="team-member-role",
    ),
    path(
        "teams/<int:team_id>/members/<int:user_id>/remove/",
        views.member_remove,
        name="team-member-remove",
    ),
    path(
        "teams/<int:team_id>/invitations/<int:invitation_id>/withdraw/",
        views.invitation_withdraw,
        name="team-invitation-withdraw",
    ),
    path("teams/<int:team_id>/budget/", views.team_budget, name="team-budget"),
    path("teams/<int:team_id>/delete/", views.team_delete, name="team-delete"),
]
