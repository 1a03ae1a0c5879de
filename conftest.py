"""Root conftest: the shared fixtures live in the `testsupport` package."""

pytest_plugins = [
    "testsupport.fixtures",
    "testsupport.teams",
    "testsupport.browser",
    "testsupport.queue",
    "testsupport.receivers",
]
