from __future__ import annotations

from django.urls import path

from connections import api, views

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
    # HTML pages
    path("connections/", views.connection_list, name="connection-list"),
    path("connections/add/", views.connection_add, name="connection-add"),
    path(
        "connections/<int:connection_id>/edit/",
        views.connection_edit,
        name="connection-edit",
    ),
    path(
        "connections/<int:connection_id>/delete/",
        views.connection_delete,
        name="connection-delete",
    ),
    path(
        "connections/<int:connection_id>/test/",
        views.connection_test,
        name="connection-test",
    ),
    path(
        "connections/<int:connection_id>/connect/",
        views.session_connect,
        name="connection-connect",
    ),
    path("session/connect/", views.session_connect, name="page-session-connect"),
    path("session/new/", views.session_new, name="page-session-new"),
    path(
        "session/disconnect/", views.session_disconnect, name="page-session-disconnect"
    ),
]
