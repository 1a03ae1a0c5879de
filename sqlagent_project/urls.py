from __future__ import annotations

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    # Before the admin's own URLs, whose catch-all takes any path under admin/.
    path("admin/", include("agent.admin_urls")),
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico whatever the page says.
    path(
        "favicon.ico",
        RedirectView.as_view(url=static("favicon.svg"), permanent=True),
    ),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Split: the page loads its start-up script from ?script, not inline (CSP).
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema"),
        name="api-docs",
    ),
    path("", include("accounts.urls")),
    path("", include("connections.urls")),
    path("", include("agent.urls")),
    path("", include("knowledge.urls")),
    path("", include("teams.urls")),
    path("", include("schedules.urls")),
    path("", include("boards.urls")),
]

handler404 = "sqlagent_project.handlers.not_found"
handler500 = "sqlagent_project.handlers.server_error"
