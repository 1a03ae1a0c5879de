"""The project's URLs plus `/bench/noop`: a DRF endpoint with the same JWT
authentication that does nothing else, the ceiling `make bench` compares with.
Only served when ROOT_URLCONF=bench.urls."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class NoopApi(APIView):
    def get(self, request: Request) -> Response:
        return Response({"ok": True})


urlpatterns = [
    path("bench/noop", NoopApi.as_view()),
    path("", include("sqlagent_project.urls")),
]
