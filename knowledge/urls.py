from __future__ import annotations

from django.urls import path

from knowledge import api, views

K = "databases/<int:db_id>/knowledge"

urlpatterns = [
    path(f"{K}/notes", api.NoteListApi.as_view(), name="knowledge-notes"),
    path(f"{K}/notes/prefill", api.NotePrefillApi.as_view(), name="knowledge-prefill"),
    path(
        f"{K}/notes/<int:object_id>", api.NoteDetailApi.as_view(), name="knowledge-note"
    ),
    path(
        f"{K}/instructions",
        api.InstructionListApi.as_view(),
        name="knowledge-instructions",
    ),
    path(
        f"{K}/instructions/<int:object_id>",
        api.InstructionDetailApi.as_view(),
        name="knowledge-instruction",
    ),
    path(f"{K}/examples", api.ExampleListApi.as_view(), name="knowledge-examples"),
    path(
        f"{K}/examples/<int:object_id>",
        api.ExampleDetailApi.as_view(),
        name="knowledge-example",
    ),
    path(
        f"{K}/examples/<int:object_id>/check",
        api.ExampleCheckApi.as_view(),
        name="knowledge-example-check",
    ),
    path(f"{K}/import", api.ImportApi.as_view(), name="knowledge-import"),
    path(
        "databases/<int:db_id>/evaluations",
        api.RunListApi.as_view(),
        name="evaluations",
    ),
    path(
        "databases/<int:db_id>/evaluations/<int:run_id>",
        api.RunDetailApi.as_view(),
        name="evaluation-detail",
    ),
    path(
        "threads/<str:thread_id>/turns/<int:turn_id>/feedback",
        api.FeedbackApi.as_view(),
        name="turn-feedback",
    ),
    path(
        "threads/<str:thread_id>/turns/<int:turn_id>/save-example",
        api.SaveExampleApi.as_view(),
        name="turn-save-example",
    ),
    # HTML pages
    path("knowledge/<int:db_id>/", views.knowledge_page, name="knowledge-page"),
    path("knowledge/<int:db_id>/runs/", views.runs_page, name="evaluation-runs-page"),
    path(
        "knowledge/<int:db_id>/runs/<int:run_id>/",
        views.run_page,
        name="evaluation-run-page",
    ),
]
