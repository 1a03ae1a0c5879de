from __future__ import annotations

from django.urls import path

from connections import api

urlpatterns = [
    path("databases", api.ConnectionListApi.as_view(), name="databases"),
    path(
        "databases/add_db_connection",
        api.ConnectionCreateApi.as_view(),
        name="databases-add",
    ),
    path(
        "databases/session-status",
        api.SessionStatusApi.as_view(),
        name="session-status",
    ),
    path(
        "databases/disconnect-session",
        api.SessionDisconnectApi.as_view(),
        name="session-disconnect",
    ),
    path(
        "databases/connect_db/<int:db_id>",
        api.SessionConnectApi.as_view(),
        name="session-connect",
    ),
    path(
        "databases/<int:db_id>",
        api.ConnectionDetailApi.as_view(),
        name="database-detail",
    ),
    path(
        "databases/<int:db_id>/test",
        api.ConnectionTestApi.as_view(),
        name="database-test",
    ),
    path("health", api.HealthApi.as_view(), name="health"),
    path("health/session", api.HealthSessionApi.as_view(), name="health-session"),
]
