"""The admin's view of the LLM check: the last verdict on the index, and a page
that runs the check (`python manage.py llm_check`) on demand."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from agent.llm.check import llm_check_run
from agent.llm.text_protocol import protocol_report


@staff_member_required
def admin_llm_check(request: HttpRequest) -> HttpResponse:
    """Run the LLM check and show its report (staff only)."""
    lines = [*llm_check_run().lines(), protocol_report()]
    context = {**admin.site.each_context(request), "lines": lines}
    return render(request, "admin/llm_check.html", context)
