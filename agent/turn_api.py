"""Endpoints on one turn: its export (CSV, Excel) and its chart choice."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import TokenScope
from accounts.types import AuthenticatedRequest
from agent.charts import PICKER_TYPES, ChartRequest
from agent.exports import FORMATS, XLSX_TYPE, csv_chunks, turn_export, xlsx_file
from agent.models import Turn
from agent.selectors import thread_get_for_user
from agent.threads import turn_chart_set
from sqlagent_project.errors import ApplicationError
from sqlagent_project.schema import ERROR_RESPONSES, NOT_FOUND


class ExportFormatInvalid(ApplicationError):
    """The export format is neither csv nor xlsx."""

    status_code = 400
    code = "export_format_invalid"
    default_message = "format must be csv or xlsx."


_RESPONSES: dict[Any, Any] = {
    (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY),
    (200, XLSX_TYPE): OpenApiResponse(OpenApiTypes.BINARY),
    **ERROR_RESPONSES,
    **NOT_FOUND,
}


class TurnExportApi(APIView):
    token_scopes = {"GET": TokenScope.ASK}

    def perform_content_negotiation(
        self, request: Request, force: bool = False
    ) -> tuple[Any, str]:
        # `format` names the file to write, not a DRF renderer: errors are JSON.
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=list(FORMATS), default="csv"),
        ],
        responses=_RESPONSES,
        tags=["threads"],
        description="The turn's SQL run again (read-only, bounded, at most "
        "EXPORT_MAX_ROWS rows; the file says when it stopped at a cap), as CSV "
        "or Excel. Cells a spreadsheet would run as formulas are text.",
    )
    def get(
        self, request: AuthenticatedRequest, thread_id: str, turn_id: int
    ) -> HttpResponseBase:
        kind = request.query_params.get("format", "csv")
        if kind not in FORMATS:
            raise ExportFormatInvalid()
        turn = _turn_of(request, thread_id, turn_id)
        export = turn_export(turn=turn)
        if kind == "xlsx":
            return FileResponse(
                xlsx_file(export),
                as_attachment=True,
                filename=f"{export.filename}.xlsx",
                content_type=XLSX_TYPE,
            )
        response = StreamingHttpResponse(
            csv_chunks(export), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = (
            f'attachment; filename="{export.filename}.csv"'
        )
        return response


def _turn_of(request: AuthenticatedRequest, thread_id: str, turn_id: int) -> Turn:
    """Return one of the user's turns by its thread; anyone else's is a 404."""
    thread = thread_get_for_user(user=request.user, thread_id=thread_id)
    return get_object_or_404(
        thread.turns.select_related("thread__db_connection"), pk=turn_id
    )


class ChartChoiceSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=list(PICKER_TYPES))
    x = serializers.CharField(required=False, allow_blank=True, max_length=300)
    y = serializers.CharField(required=False, allow_blank=True, max_length=300)
    series = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=300
    )


class TurnChartOutputSerializer(serializers.Serializer):
    chart = serializers.JSONField(allow_null=True)


class TurnChartApi(APIView):
    token_scopes = {"PUT": TokenScope.ASK}

    @extend_schema(
        request=ChartChoiceSerializer,
        responses={200: TurnChartOutputSerializer, **ERROR_RESPONSES, **NOT_FOUND},
        tags=["threads"],
        description="Pick the turn's chart (bar, barh, line, area, scatter, pie, "
        "or table for none) and its columns; it is remembered on the turn and "
        "returned as a Vega-Lite spec. The model is not called.",
    )
    def put(
        self, request: AuthenticatedRequest, thread_id: str, turn_id: int
    ) -> Response:
        turn = _turn_of(request, thread_id, turn_id)
        serializer = ChartChoiceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        turn = turn_chart_set(
            turn=turn,
            request=ChartRequest(
                type=data["type"],
                x=data.get("x") or None,
                y=data.get("y") or None,
                series=data.get("series") or None,
            ),
        )
        return Response({"chart": turn.chart})
