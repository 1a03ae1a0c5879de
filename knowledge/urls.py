from __future__ import annotations

from django.urls import path

from knowledge import api, views

K = "databases/<int:db_id>/knowledge"
# The knowledge page's own forms post here.
P = "knowledge/<int:db_id>"

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
    path(f"{K}/values", api.ValueIndexApi.as_view(), name="knowledge-values"),
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
    path(
        f"{P}/instructions/<int:instruction_id>/edit/",
        views.instruction_edit,
        name="knowledge-instruction-edit",
    ),
    path(
        f"{P}/instructions/<int:instruction_id>/delete/",
        views.instruction_delete,
        name="knowledge-instruction-delete",
    ),
    path(
        f"{P}/examples/<int:example_id>/edit/",
        views.example_edit,
        name="knowledge-example-edit",
    ),
    path(
        f"{P}/examples/<int:example_id>/delete/",
        views.example_delete,
        name="knowledge-example-delete",
    ),
    path(
        f"{P}/examples/<int:example_id>/verify/",
        views.example_verify,
        name="knowledge-example-verify",
    ),
    path(
        f"{P}/examples/<int:example_id>/check/",
        views.example_check,
        name="knowledge-example-check-page",
    ),
    path(f"{P}/import/", views.examples_import, name="knowledge-import-page"),
    path(
        f"{P}/notes/<int:note_id>/edit/",
        views.note_edit,
        name="knowledge-note-edit",
    ),
    path(
        f"{P}/notes/<int:note_id>/delete/",
        views.note_delete,
        name="knowledge-note-delete",
    ),
    path(
        f"{P}/notes/prefill/",
        views.notes_prefill,
        name="knowledge-notes-prefill",
    ),
    path(
        f"{P}/golden-questions/<int:question_id>/edit/",
        views.golden_question_edit,
        name="knowledge-golden-question-edit",
    ),
    path(
        f"{P}/golden-sets/<int:set_id>/delete/",
        views.golden_set_delete,
        name="knowledge-golden-set-delete",
    ),
    path("knowledge/<int:db_id>/runs/", views.runs_page, name="evaluation-runs-page"),
    path(
        "knowledge/<int:db_id>/runs/<int:run_id>/",
        views.run_page,
        name="evaluation-run-page",
    ),
]
