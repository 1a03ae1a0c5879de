"""Boards: create one, pin a turn to it, and run its tiles again on each view.

A board never calls the model: each tile keeps the SQL and chart choice of the
turn it was pinned from, and opening the board runs that SQL again through the
agent's guard (read-only, bounded) on the tile's own database, under the rights
of whoever opens it (a team board is read by every member of its team).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from agent import sql_guard
from agent.charts import ChartDoesNotFit, ChartRequest, chart_for, chart_picked
from agent.models import Turn
from agent.reruns import NothingToRerun, Rerunner, rerunner, turn_sql
from boards.exceptions import BoardNameInvalid, TileNotPinnable, TooManyTiles
from boards.models import Board, Tile
from connections.models import DatabaseConnection
from connections.selectors import (
    ConnectionAccess,
    connection_allows,
    connection_role_refresh,
)
from sqlagent_project.errors import ApplicationError
from teams.models import Team

logger = logging.getLogger(__name__)
_NOT_REACHED = "You no longer have access to this tile's database."
# A tile's title is its question (or SQL), cut to a heading's length.
_TITLE_CHARS = 120


def board_create(*, owner: User, name: str, team: Team | None = None) -> Board:
    """Create a board: personal, or `team`'s (the caller checked `owner` may)."""
    return Board.objects.create(owner=owner, name=_name_checked(name), team=team)


def board_rename(*, board: Board, name: str) -> Board:
    """Rename a board (the caller checked who may)."""
    board.name = _name_checked(name)
    board.save(update_fields=["name", "updated_at"])
    return board


def board_delete(*, board: Board) -> None:
    """Delete a board and its tiles (the caller checked who may)."""
    board.delete()


def _name_checked(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise BoardNameInvalid("A board needs a name.")
    if len(name) > 100:
        raise BoardNameInvalid("A board name has at most 100 characters.")
    return name


def tile_accepts(board: Board, connection_team_id: int | None) -> bool:
    """Whether an answer on a connection of this team (None: a personal one)
    may be pinned to the board: a team board takes answers on that team's
    connections only; a personal board any of its owner's."""
    return board.team_id is None or board.team_id == connection_team_id


@transaction.atomic
def tile_add(*, board: Board, turn: Turn) -> Tile:
    """Pin a turn's SQL and chart to the board (the caller checked the turn is
    theirs and that they may change the board)."""
    connection = turn.thread.db_connection
    if connection is None:
        raise TileNotPinnable("The database of this conversation was removed.")
    if not tile_accepts(board, connection.team_id):
        raise TileNotPinnable(
            "A team board takes answers on that team's databases only: this "
            "answer ran on another database."
        )
    try:
        sql = turn_sql(turn)
    except NothingToRerun as exc:
        raise TileNotPinnable("This answer ran no query that could be pinned.") from exc
    board = Board.objects.select_for_update().get(pk=board.pk)
    count = board.tiles.count()
    if count >= settings.BOARD_MAX_TILES:
        raise TooManyTiles(f"A board holds at most {settings.BOARD_MAX_TILES} tiles.")
    title = " ".join(turn.question.split()) or "Saved query"
    if len(title) > _TITLE_CHARS:
        title = title[: _TITLE_CHARS - 1] + "…"
    tile = Tile.objects.create(
        board=board,
        connection=connection,
        turn=turn,
        title=title,
        sql=sql,
        chart=turn.chart,
        position=count,
    )
    board.save(update_fields=["updated_at"])
    return tile


@dataclass(frozen=True)
class TileView:
    """A tile as it is now: fresh rows, or why there are none."""

    id: int
    title: str
    sql: str
    columns: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    chart: dict[str, Any] | None
    refreshed_at: datetime
    error: str | None

    @property
    def spec_id(self) -> str:
        """Return the id of the page's JSON block holding this tile's chart."""
        return f"chart-spec-tile-{self.id}"


def board_tiles_refresh(*, board: Board, viewer: User) -> list[TileView]:
    """Run every tile's SQL again under the viewer's own rights, one engine per
    database for all its tiles: a tile on a database the viewer no longer
    reaches says so and runs nothing."""
    tiles = list(board.tiles.select_related("connection"))
    views: dict[int, TileView] = {}
    for connection_id in dict.fromkeys(tile.connection_id for tile in tiles):
        mine = [tile for tile in tiles if tile.connection_id == connection_id]
        if not _viewer_may_use(viewer, mine[0].connection):
            for tile in mine:
                views[tile.pk] = _failed(tile, _NOT_REACHED)
            continue
        with rerunner(mine[0].connection) as runner:
            for tile in mine:
                views[tile.pk] = _tile_refresh(tile, runner)
    return [views[tile.pk] for tile in tiles]


def _viewer_may_use(viewer: User, connection: DatabaseConnection) -> bool:
    if not connection_role_refresh(user=viewer, connection=connection):
        return False
    return connection_allows(connection, ConnectionAccess.USE)


def _tile_refresh(tile: Tile, runner: Rerunner) -> TileView:
    try:
        result = runner.run(tile.sql, max_rows=settings.BOARD_TILE_MAX_ROWS)
    except sql_guard.StatementRefused as exc:
        return _failed(tile, f"Refused: {exc.reason}")
    except sql_guard.QueryFailed as exc:
        return _failed(tile, exc.message)
    except ApplicationError as exc:  # a gate or the database: said on its tile
        return _failed(tile, exc.message)
    stored = {
        "columns": result.columns,
        "column_types": result.column_types,
        "rows": result.rows,
        "row_count": result.row_count,
        "truncated": result.truncated,
    }
    return TileView(
        id=tile.pk,
        title=tile.title,
        sql=tile.sql,
        columns=result.columns,
        rows=result.rows,
        row_count=result.row_count,
        truncated=result.truncated,
        chart=_chart_again(tile.chart, stored),
        refreshed_at=timezone.now(),
        error=None,
    )


def _failed(tile: Tile, reason: str) -> TileView:
    logger.info("board tile failed tile=%s", tile.pk)
    return TileView(
        id=tile.pk,
        title=tile.title,
        sql=tile.sql,
        columns=[],
        rows=[],
        row_count=0,
        truncated=False,
        chart=None,
        refreshed_at=timezone.now(),
        error=reason,
    )


def _chart_again(
    pinned: dict[str, Any] | None, result: dict[str, Any]
) -> dict[str, Any] | None:
    """Draw the pinned chart again from today's rows, as it was chosen."""
    if not pinned:
        return None
    choice = (pinned.get("usermeta") or {}).get("choice") or {}
    if choice.get("type"):
        request = ChartRequest(
            type=choice["type"],
            x=choice.get("x"),
            y=choice.get("y"),
            series=choice.get("series"),
        )
        try:
            return chart_picked(result, request=request)
        except ChartDoesNotFit:
            pass  # the columns changed: the usual chart for today's rows
    return chart_for(result)
