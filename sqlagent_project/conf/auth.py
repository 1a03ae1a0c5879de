"""Authentication: users, passwords, DRF and JWTs, rate limits, budgets and lockout."""

from __future__ import annotations

from datetime import timedelta

from sqlagent_project.conf.environment import env

# AUTH
AUTH_USER_MODEL = "accounts.User"
# django-axes first: it refuses a locked-out email+address before the password
# is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
_VALIDATORS = "django.contrib.auth.password_validation"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"{_VALIDATORS}.UserAttributeSimilarityValidator"},
    {"NAME": f"{_VALIDATORS}.MinimumLengthValidator"},
    {"NAME": f"{_VALIDATORS}.CommonPasswordValidator"},
    {"NAME": f"{_VALIDATORS}.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# DRF
REST_FRAMEWORK = {
    # Personal access tokens (`Bearer sqa_…`) first; other bearer values are JWTs.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.PersonalAccessTokenAuthentication",
        # simplejwt's, plus the denylist a logout writes (accounts/revocation.py).
        "accounts.authentication.RevocableJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        # A token reaches only the views that name its scope (accounts/permissions.py).
        "accounts.permissions.TokenScopePermission",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["sqlagent_project.parsers.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "sqlagent_project.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "sqlagent_project.schema.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["sqlagent_project.throttling.ScopedSettingsThrottle"],
    # Proxies in front of the app that append to X-Forwarded-For; 0 trusts only
    # REMOTE_ADDR, so a client cannot pick its own address for the rate limits.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(
        minutes=env.int("JWT_ACCESS_TOKEN_MINUTES", default=30)
    ),
    "REFRESH_TOKEN_LIFETIME": timedelta(
        days=env.int("JWT_REFRESH_TOKEN_DAYS", default=7)
    ),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    # last_login is stamped by the user_logged_in signal the login API sends.
    "UPDATE_LAST_LOGIN": False,
    "AUTH_HEADER_TYPES": ("Bearer",),
}

# RATE LIMITS AND LOCKOUT
# DRF rates ("<n>/<second|minute|hour|day>") per throttle_scope: login and
# register per client address, ask per user. Empty = unlimited.
THROTTLE_LOGIN_RATE = env.str("THROTTLE_LOGIN_RATE", default="20/minute")
THROTTLE_REGISTER_RATE = env.str("THROTTLE_REGISTER_RATE", default="20/hour")
THROTTLE_ASK_RATE = env.str("THROTTLE_ASK_RATE", default="30/minute")
# /mcp messages per user other than ask and run_sql (which count as asks).
THROTTLE_MCP_RATE = env.str("THROTTLE_MCP_RATE", default="120/minute")
# Daily budgets (UTC days) of questions to the model and of model tokens, counted
# from the stored turns: per user (every ask of theirs), and the default per team
# (asks on its connections; a team's admins may set their own). 0: no limit.
# Spent: /ask answers 429 budget_spent with when it resets.
BUDGET_USER_ASKS_PER_DAY = env.int("BUDGET_USER_ASKS_PER_DAY", default=0)
BUDGET_USER_TOKENS_PER_DAY = env.int("BUDGET_USER_TOKENS_PER_DAY", default=0)
BUDGET_TEAM_ASKS_PER_DAY = env.int("BUDGET_TEAM_ASKS_PER_DAY", default=0)
BUDGET_TEAM_TOKENS_PER_DAY = env.int("BUDGET_TEAM_TOKENS_PER_DAY", default=0)
# django-axes: this many failed logins for one email from one address lock that
# pair out for LOGIN_LOCKOUT_MINUTES (the same answer whether the email exists).
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "accounts.lockout.lockout_username"
AXES_CLIENT_IP_CALLABLE = "sqlagent_project.throttling.client_address"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_RESET_ON_SUCCESS = True
# No banner on every management command.
AXES_VERBOSE = False
