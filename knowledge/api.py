"""JSON API for a connection's knowledge, its evaluation runs, and turn feedback."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.types import AuthenticatedRequest
from agent.selectors import thread_get_for_user
from connections.selectors import (
    ConnectionAccess,
    connection_allows,
    connection_get_for_user,
    connection_require_for_user,
)
from knowledge import evaluation, imports, selectors, services, values
from knowledge import serializers as s
from sqlagent_project.schema import ERROR_RESPONSES, NOT_FOUND

TAGS = ["knowledge"]


def _proposer(connection: Any, user: Any) -> Any:
    # Who proposes an example that stays unverified: a team member who may not
    # manage the connection; None (verified at once) for its admins and owner.
    return None if connection_allows(connection, ConnectionAccess.MANAGE) else user


class _ListCreateApi(APIView):
    """List a connection's objects of one kind, or add one."""

    serializer_class: Any
    selector: Any
    # What adding one takes on a team connection: an admin, unless said otherwise.
    create_need = ConnectionAccess.MANAGE

    def _queryset(self, request: AuthenticatedRequest, db_id: int) -> QuerySet:
        # Every member reads the team's knowledge; its admins change it.
        connection_get_for_user(
            user=request.user, connection_id=db_id, need=ConnectionAccess.USE
        )
        return type(self).selector(user=request.user, connection_id=db_id)

    def get(self, request: AuthenticatedRequest, db_id: int) -> Response:
        objects = self._queryset(request, db_id)
        return Response(self.serializer_class(objects, many=True).data)

    def post(self, request: AuthenticatedRequest, db_id: int) -> Response:
        connection = connection_get_for_user(
            user=request.user, connection_id=db_id, need=self.create_need
        )
        serializer = self.serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        created = self.create(
            connection=connection, data=serializer.validated_data, user=request.user
        )
        return Response(
            self.serializer_class(created).data, status=status.HTTP_201_CREATED
        )

    def create(self, *, connection: Any, data: dict[str, Any], user: Any) -> Any:
        raise NotImplementedError


class _DetailApi(APIView):
    """Read, change or delete one of a connection's objects, through services."""

    serializer_class: Any

    def get_object(self, *, user: Any, db_id: int, object_id: int) -> Any:
        raise NotImplementedError

    def update(self, *, obj: Any, data: dict[str, Any]) -> Any:
        raise NotImplementedError

    def destroy(self, *, obj: Any) -> None:
        raise NotImplementedError

    def get(
        self, request: AuthenticatedRequest, db_id: int, object_id: int
    ) -> Response:
        connection_get_for_user(
            user=request.user, connection_id=db_id, need=ConnectionAccess.USE
        )
        obj = self.get_object(user=request.user, db_id=db_id, object_id=object_id)
        return Response(self.serializer_class(obj).data)

    def patch(
        self, request: AuthenticatedRequest, db_id: int, object_id: int
    ) -> Response:
        connection_get_for_user(user=request.user, connection_id=db_id)
        obj = self.get_object(user=request.user, db_id=db_id, object_id=object_id)
        serializer = self.serializer_class(obj, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        obj = self.update(obj=obj, data=serializer.validated_data)
        return Response(self.serializer_class(obj).data)

    def delete(
        self, request: AuthenticatedRequest, db_id: int, object_id: int
    ) -> Response:
        connection_get_for_user(user=request.user, connection_id=db_id)
        obj = self.get_object(user=request.user, db_id=db_id, object_id=object_id)
        self.destroy(obj=obj)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    get=extend_schema(
        operation_id="knowledge_notes_list",
        responses={200: s.NoteSerializer(many=True), **ERROR_RESPONSES, **NOT_FOUND},
    )
)
@extend_schema(tags=TAGS, responses={**ERROR_RESPONSES, **NOT_FOUND})
class NoteListApi(_ListCreateApi):
    serializer_class = s.NoteSerializer
    selector = selectors.note_list_for_user

    def create(self, *, connection: Any, data: dict[str, Any], user: Any) -> Any:
        return services.note_upsert(connection=connection, **data)


@extend_schema(tags=TAGS, responses={**ERROR_RESPONSES, **NOT_FOUND})
class NoteDetailApi(_DetailApi):
    serializer_class = s.NoteSerializer

    def get_object(self, *, user: Any, db_id: int, object_id: int) -> Any:
        return selectors.note_get_for_user(
            user=user, connection_id=db_id, note_id=object_id
        )

    def update(self, *, obj: Any, data: dict[str, Any]) -> Any:
        return services.note_update(note=obj, **data)

    def destroy(self, *, obj: Any) -> None:
        services.note_delete(note=obj)


class NotePrefillApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={200: None, 202: None, **ERROR_RESPONSES, **NOT_FOUND},
    )
    def post(self, request: AuthenticatedRequest, db_id: int) -> Response:
        connection = connection_get_for_user(user=request.user, connection_id=db_id)
        added = services.notes_prefill_requested(connection=connection)
        if added is None:
            # On the queue (a broker is set): the notes appear when it is done.
            return Response(
                {"added": None, "queued": True}, status=status.HTTP_202_ACCEPTED
            )
        return Response({"added": added})


class ValueIndexApi(APIView):
    """The connection's value index: its state, size and age; POST rebuilds it
    in the background (202)."""

    @extend_schema(tags=TAGS, responses={200: None, **ERROR_RESPONSES, **NOT_FOUND})
    def get(self, request: AuthenticatedRequest, db_id: int) -> Response:
        connection = connection_get_for_user(user=request.user, connection_id=db_id)
        return Response(values.value_index_summary(connection=connection))

    @extend_schema(
        tags=TAGS, request=None, responses={202: None, **ERROR_RESPONSES, **NOT_FOUND}
    )
    def post(self, request: AuthenticatedRequest, db_id: int) -> Response:
        connection = connection_get_for_user(user=request.user, connection_id=db_id)
        queued = values.value_index_build_in_background(connection_id=connection.pk)
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    get=extend_schema(
        operation_id="knowledge_instructions_list",
        responses={
            200: s.InstructionSerializer(many=True),
            **ERROR_RESPONSES,
            **NOT_FOUND,
        },
    )
)
@extend_schema(tags=TAGS, responses={**ERROR_RESPONSES, **NOT_FOUND})
class InstructionListApi(_ListCreateApi):
    serializer_class = s.InstructionSerializer
    selector = selectors.instruction_list_for_user

    def create(self, *, connection: Any, data: dict[str, Any], user: Any) -> Any:
        return services.instruction_create(connection=connection, **data)


@extend_schema(tags=TAGS, responses={**ERROR_RESPONSES, **NOT_FOUND})
class InstructionDetailApi(_DetailApi):
    serializer_class = s.InstructionSerializer

    def get_object(self, *, user: Any, db_id: int, object_id: int) -> Any:
        return selectors.instruction_get_for_user(
            user=user, connection_id=db_id, instruction_id=object_id
        )

    def update(self, *, obj: Any, data: dict[str, Any]) -> Any:
        if "text" not in data:
            return obj
        return services.instruction_update(instruction=obj, text=data["text"])

    def destroy(self, *, obj: Any) -> None:
        services.instruction_delete(instruction=obj)


@extend_schema_view(
    get=extend_schema(
        operation_id="knowledge_examples_list",
        responses={200: s.ExampleSerializer(many=True), **ERROR_RESPONSES, **NOT_FOUND},
    )
)
@extend_schema(tags=TAGS, responses={**ERROR_RESPONSES, **NOT_FOUND})
class ExampleListApi(_ListCreateApi):
    serializer_class = s.ExampleSerializer
    selector = selectors.example_list_for_user
    # A team's analysts propose examples; its admins' are verified at once.
    create_need = ConnectionAccess.PROPOSE

    def create(self, *, connection: Any, data: dict[str, Any], user: Any) -> Any:
        data = {name: value for name, value in data.items() if name != "verified"}
        return services.example_create(
            connection=connection, proposed_by=_proposer(connection, user), **data
        )


@extend_schema(tags=TAGS, responses={**ERROR_RESPONSES, **NOT_FOUND})
class ExampleDetailApi(_DetailApi):
    serializer_class = s.ExampleSerializer

    def get_object(self, *, user: Any, db_id: int, object_id: int) -> Any:
        return selectors.example_get_for_user(
            user=user, connection_id=db_id, example_id=object_id
        )

    def update(self, *, obj: Any, data: dict[str, Any]) -> Any:
        return services.example_update(example=obj, **data)

    def destroy(self, *, obj: Any) -> None:
        services.example_delete(example=obj)


class ExampleCheckApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={200: s.ExampleSerializer, **ERROR_RESPONSES, **NOT_FOUND},
    )
    def post(
        self, request: AuthenticatedRequest, db_id: int, object_id: int
    ) -> Response:
        connection_get_for_user(user=request.user, connection_id=db_id)
        example = selectors.example_get_for_user(
            user=request.user, connection_id=db_id, example_id=object_id
        )
        return Response(
            s.ExampleSerializer(services.example_check(example=example)).data
        )


class ImportApi(APIView):
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        tags=TAGS,
        request=s.ImportInputSerializer,
        responses={200: s.ImportOutputSerializer, **ERROR_RESPONSES, **NOT_FOUND},
    )
    def post(self, request: AuthenticatedRequest, db_id: int) -> Response:
        connection = connection_get_for_user(user=request.user, connection_id=db_id)
        serializer = s.ImportInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = imports.examples_import_file(
            connection=connection,
            file=serializer.validated_data["file"],
            set_name=serializer.validated_data.get("set") or None,
        )
        errors = [{"line": line, "error": reason} for line, reason in report.errors]
        return Response({"created": report.created, "errors": errors})


class RunListApi(APIView):
    @extend_schema(
        tags=TAGS,
        responses={200: s.RunSerializer(many=True), **ERROR_RESPONSES, **NOT_FOUND},
    )
    def get(self, request: AuthenticatedRequest, db_id: int) -> Response:
        connection_get_for_user(user=request.user, connection_id=db_id)
        runs = selectors.run_list_for_user(user=request.user, connection_id=db_id)
        return Response(s.RunSerializer(runs, many=True).data)

    @extend_schema(
        tags=TAGS,
        request=s.RunInputSerializer,
        responses={202: s.RunSerializer, **ERROR_RESPONSES, **NOT_FOUND},
    )
    def post(self, request: AuthenticatedRequest, db_id: int) -> Response:
        connection = connection_get_for_user(user=request.user, connection_id=db_id)
        serializer = s.RunInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        set_name = serializer.validated_data.get("set") or None
        if set_name:
            get_object_or_404(
                selectors.golden_set_list_for_user(
                    user=request.user, connection_id=db_id
                ),
                name=set_name,
            )
        run = evaluation.run_start(
            connection=connection,
            set_name=set_name,
            limit=serializer.validated_data.get("limit"),
        )
        evaluation.run_in_background(run=run)
        return Response(s.RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class RunDetailApi(APIView):
    @extend_schema(
        tags=TAGS,
        responses={200: s.RunDetailSerializer, **ERROR_RESPONSES, **NOT_FOUND},
    )
    def get(self, request: AuthenticatedRequest, db_id: int, run_id: int) -> Response:
        connection_get_for_user(user=request.user, connection_id=db_id)
        run = selectors.run_get_for_user(
            user=request.user, connection_id=db_id, run_id=run_id
        )
        return Response(s.RunDetailSerializer(run).data)


def _turn(request: AuthenticatedRequest, thread_id: str, turn_id: int) -> Any:
    thread = thread_get_for_user(user=request.user, thread_id=thread_id)
    return get_object_or_404(
        thread.turns.select_related("thread__db_connection"), pk=turn_id
    )


class FeedbackApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=s.FeedbackSerializer,
        responses={200: s.FeedbackSerializer, **ERROR_RESPONSES, **NOT_FOUND},
    )
    def post(
        self, request: AuthenticatedRequest, thread_id: str, turn_id: int
    ) -> Response:
        turn = _turn(request, thread_id, turn_id)
        serializer = s.FeedbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        feedback = services.feedback_set(
            turn=turn, user=request.user, **serializer.validated_data
        )
        return Response(s.FeedbackSerializer(feedback).data)


class SaveExampleApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={201: s.ExampleSerializer, **ERROR_RESPONSES, **NOT_FOUND},
    )
    def post(
        self, request: AuthenticatedRequest, thread_id: str, turn_id: int
    ) -> Response:
        turn = _turn(request, thread_id, turn_id)
        connection = turn.thread.db_connection
        proposer = None
        if connection is not None:
            connection_require_for_user(
                user=request.user, connection=connection, need=ConnectionAccess.PROPOSE
            )
            proposer = _proposer(connection, request.user)
        example = services.example_from_turn(turn=turn, proposed_by=proposer)
        return Response(
            s.ExampleSerializer(example).data, status=status.HTTP_201_CREATED
        )
