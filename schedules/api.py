"""JSON API of scheduled questions (these paths and names are the contract)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.types import AuthenticatedRequest
from agent.pagination import HeaderLimitOffsetPagination, page_parameters
from schedules import selectors, services
from schedules import serializers as s
from sqlagent_project.schema import ERROR_RESPONSES, NOT_FOUND

TAGS = ["schedules"]


class ScheduleListApi(APIView):
    @extend_schema(tags=TAGS, responses={200: s.ScheduleSerializer(many=True)})
    def get(self, request: AuthenticatedRequest) -> Response:
        schedules = selectors.schedule_list_for_user(user=request.user)
        return Response(s.ScheduleSerializer(schedules, many=True).data)

    @extend_schema(
        tags=TAGS,
        request=s.ScheduleInputSerializer,
        responses={201: s.ScheduleCreatedSerializer, **ERROR_RESPONSES, **NOT_FOUND},
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        serializer = s.ScheduleInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        schedule = services.schedule_create(
            owner=request.user, **serializer.validated_data
        )
        return Response(
            s.ScheduleCreatedSerializer(schedule).data, status=status.HTTP_201_CREATED
        )


class ScheduleDetailApi(APIView):
    @extend_schema(
        tags=TAGS, responses={200: s.ScheduleSerializer, **ERROR_RESPONSES, **NOT_FOUND}
    )
    def get(self, request: AuthenticatedRequest, schedule_id: int) -> Response:
        schedule = selectors.schedule_get_for_user(
            user=request.user, schedule_id=schedule_id
        )
        return Response(s.ScheduleSerializer(schedule).data)

    @extend_schema(
        tags=TAGS,
        request=s.ScheduleUpdateSerializer,
        responses={200: s.ScheduleSerializer, **ERROR_RESPONSES, **NOT_FOUND},
    )
    def patch(self, request: AuthenticatedRequest, schedule_id: int) -> Response:
        schedule = selectors.schedule_get_for_user(
            user=request.user, schedule_id=schedule_id
        )
        serializer = s.ScheduleUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        schedule = services.schedule_update(
            schedule=schedule, **serializer.validated_data
        )
        return Response(s.ScheduleSerializer(schedule).data)

    @extend_schema(tags=TAGS, responses={204: None, **ERROR_RESPONSES, **NOT_FOUND})
    def delete(self, request: AuthenticatedRequest, schedule_id: int) -> Response:
        schedule = selectors.schedule_get_for_user(
            user=request.user, schedule_id=schedule_id
        )
        services.schedule_delete(schedule=schedule)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ScheduleRunNowApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={202: s.ScheduleRunSerializer, **ERROR_RESPONSES, **NOT_FOUND},
    )
    def post(self, request: AuthenticatedRequest, schedule_id: int) -> Response:
        schedule = selectors.schedule_get_for_user(
            user=request.user, schedule_id=schedule_id
        )
        run = services.schedule_run_now(schedule=schedule)
        return Response(
            s.ScheduleRunSerializer(run).data, status=status.HTTP_202_ACCEPTED
        )


class ScheduleRunListApi(APIView):
    @extend_schema(
        tags=TAGS,
        parameters=page_parameters(HeaderLimitOffsetPagination),
        responses={
            200: s.ScheduleRunSerializer(many=True),
            **ERROR_RESPONSES,
            **NOT_FOUND,
        },
    )
    def get(self, request: AuthenticatedRequest, schedule_id: int) -> Response:
        schedule = selectors.schedule_get_for_user(
            user=request.user, schedule_id=schedule_id
        )
        paginator = HeaderLimitOffsetPagination()
        runs = paginator.paginate_queryset(
            selectors.run_list_for_schedule(schedule=schedule), request, view=self
        )
        return paginator.get_paginated_response(
            s.ScheduleRunSerializer(runs, many=True).data
        )
