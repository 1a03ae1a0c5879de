"""Team personas: a team "Data" where alice is admin, bob analyst and carol
viewer, and mallory, who belongs to no team."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from testsupport.fixtures import api_client_for


@pytest.fixture
def carol(make_user: Callable[..., Any]) -> Any:
    return make_user("carol@example.com", "Carol")


@pytest.fixture
def mallory(make_user: Callable[..., Any]) -> Any:
    return make_user("mallory@example.com", "Mallory")


@pytest.fixture
def carol_client(carol: Any) -> Any:
    return api_client_for(carol)


@pytest.fixture
def mallory_client(mallory: Any) -> Any:
    return api_client_for(mallory)


@pytest.fixture
def team(alice: Any, bob: Any, carol: Any) -> Any:
    """Alice's team: alice admin, bob analyst, carol viewer."""
    from teams.models import Membership, TeamRole
    from teams.services import team_create

    created = team_create(user=alice, name="Data")
    Membership.objects.create(team=created, user=bob, role=TeamRole.ANALYST)
    Membership.objects.create(team=created, user=carol, role=TeamRole.VIEWER)
    return created


@pytest.fixture
def make_team_connection(make_connection: Callable[..., Any]) -> Callable[..., Any]:
    """Create a connection to the shop in `db_type` shared with `team`."""

    def make(team: Any, db_type: str, **overrides: Any) -> Any:
        from teams.models import Membership, TeamRole

        admin = (
            Membership.objects.filter(team=team, role=TeamRole.ADMIN)
            .select_related("user")
            .first()
        )
        assert admin is not None
        return make_connection(admin.user, db_type, team=team, **overrides)

    return make
