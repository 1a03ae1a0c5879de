"""Admin pages of the agent app that are not a model's (mounted under admin/)."""

from __future__ import annotations

from django.urls import path

from agent.admin_llm_check import admin_llm_check

urlpatterns = [
    path("llm-check/", admin_llm_check, name="admin-llm-check"),
]
