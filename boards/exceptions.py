"""Errors of boards, each with its own status and code."""

from __future__ import annotations

from sqlagent_project.errors import ApplicationError


class BoardNameInvalid(ApplicationError):
    """A board needs a name of at most 100 characters."""

    status_code = 400
    code = "board_name_invalid"


class TileNotPinnable(ApplicationError):
    """The turn has no working SQL or no database to run it on."""

    status_code = 400
    code = "tile_not_pinnable"


class TooManyTiles(ApplicationError):
    """A board holds at most BOARD_MAX_TILES tiles."""

    status_code = 400
    code = "too_many_tiles"
