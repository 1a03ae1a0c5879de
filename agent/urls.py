from __future__ import annotations

from django.urls import path

from agent import api, team_api, team_views, views
from agent.mcp_server.views import McpApi
from agent.turn_api import TurnChartApi, TurnExportApi

urlpatterns = [
    # JSON API
    path("ask", api.AskApi.as_view(), name="ask"),
    path("ask/sql", api.AskSqlApi.as_view(), name="ask-sql"),
    path("ask/<int:turn_id>/cancel", api.AskCancelApi.as_view(), name="ask-cancel"),
    path("threads", api.ThreadListApi.as_view(), name="threads"),
    path(
        "threads/<str:thread_id>", api.ThreadDetailApi.as_view(), name="thread-detail"
    ),
    path(
        "threads/<str:thread_id>/turns/<int:turn_id>/export",
        TurnExportApi.as_view(),
        name="turn-export",
    ),
    path(
        "threads/<str:thread_id>/turns/<int:turn_id>/chart",
        TurnChartApi.as_view(),
        name="turn-chart",
    ),
    path("databases/<int:db_id>/schema", api.SchemaApi.as_view(), name="schema"),
    path(
        "databases/<int:db_id>/schema/<str:table>",
        api.SchemaTableApi.as_view(),
        name="schema-table",
    ),
    path(
        "turns/<int:turn_id>/share", team_api.TurnShareApi.as_view(), name="turn-share"
    ),
    path("shared/<str:token>", team_api.SharedTurnApi.as_view(), name="shared-turn"),
    path(
        "teams/<int:team_id>/activity",
        team_api.TeamActivityApi.as_view(),
        name="team-activity",
    ),
    # MCP (Streamable HTTP) for AI clients, with a personal access token
    path("mcp", McpApi.as_view(), name="mcp"),
    # HTML pages
    path("", views.chat, name="chat"),
    path("history/", views.history_list, name="history-list"),
    path("history/<uuid:thread_id>/", views.history_detail, name="history-detail"),
    path(
        "history/<uuid:thread_id>/continue/",
        views.history_continue,
        name="history-continue",
    ),
    path(
        "history/<uuid:thread_id>/rename/", views.history_rename, name="history-rename"
    ),
    path(
        "history/<uuid:thread_id>/delete/", views.history_delete, name="history-delete"
    ),
    path("turns/<int:turn_id>/csv/", views.turn_csv, name="turn-csv"),
    path("turns/<int:turn_id>/rows/", views.turn_rows, name="turn-rows"),
    path("turns/<int:turn_id>/status/", views.turn_status, name="turn-status"),
    path("chat/run-sql/", views.chat_run_sql, name="chat-run-sql"),
    path("shared/<str:token>/", views.shared_turn, name="shared-turn-page"),
    path(
        "turns/<int:turn_id>/share/",
        team_views.turn_share_page,
        name="turn-share-page",
    ),
    path(
        "teams/<int:team_id>/activity/",
        team_views.team_activity,
        name="team-activity-page",
    ),
]
