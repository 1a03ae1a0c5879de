from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema"),
        name="api-docs",
    ),
    path("", include("accounts.urls")),
    path("", include("connections.urls")),
    path("", include("agent.urls")),
]

handler404 = "sqlagent_project.handlers.not_found"
handler500 = "sqlagent_project.handlers.server_error"
