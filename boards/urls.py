from __future__ import annotations

from django.urls import path

from boards import api, views

urlpatterns = [
    # JSON API
    path("boards", api.BoardListApi.as_view(), name="boards"),
    path("boards/<int:board_id>", api.BoardDetailApi.as_view(), name="board-detail"),
    path(
        "boards/<int:board_id>/tiles", api.BoardTilesApi.as_view(), name="board-tiles"
    ),
    # HTML pages
    path("boards/", views.board_list, name="board-list"),
    path("boards/<int:board_id>/", views.board_page, name="board-page"),
    path("boards/<int:board_id>/rename/", views.board_rename_page, name="board-rename"),
    path("boards/<int:board_id>/delete/", views.board_delete_page, name="board-delete"),
    path("boards/pin/", views.tile_pin, name="board-pin"),
]
