from __future__ import annotations

from django.urls import path

from agent import api

urlpatterns = [
    path("ask", api.AskApi.as_view(), name="ask"),
    path("threads", api.ThreadListApi.as_view(), name="threads"),
    path("threads/<str:thread_id>", api.ThreadDetailApi.as_view(), name="thread-detail"),
]
