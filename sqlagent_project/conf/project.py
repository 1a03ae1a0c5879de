"""The Django project: apps, middleware, URLs, templates, static files, API docs."""

from __future__ import annotations

from sqlagent_project.conf.environment import BASE_DIR, VERSION, env

# APPLICATIONS
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "accounts",
    "teams",
    "connections",
    "agent",
    # Creates the database cache table in `migrate` (when that cache is used).
    "sqlagent_project.dbcache",
    "knowledge",
    # The task queue's results and periodic schedules (conf/queue.py).
    "django_celery_results",
    "django_celery_beat",
    "schedules",
    "boards",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A strict Content-Security-Policy with a per-request nonce (csp.py).
    "sqlagent_project.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "sqlagent_project.middleware.RequestLogMiddleware",
    "sqlagent_project.middleware.RequestBodyLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Browser requests: the session user on every log line of the request.
    "sqlagent_project.usercontext.UserLogContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: turns a login lockout into its answer.
    "axes.middleware.AxesMiddleware",
    # Without a broker, the queue's periodic chores after a response
    # (NO_BROKER_CHORES, conf/queue.py).
    "sqlagent_project.middleware.NoBrokerChoresMiddleware",
]

# `make bench` serves bench/urls.py (the project plus a bare endpoint).
ROOT_URLCONF = env.str("ROOT_URLCONF", default="sqlagent_project.urls")
WSGI_APPLICATION = "sqlagent_project.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "sqlagent_project.csp.csp_nonce",
            ],
        },
    },
]

# INTERNATIONALIZATION
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# STATIC FILES
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "sqlagent_project" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# API DOCS
SPECTACULAR_SETTINGS = {
    "TITLE": "SQLAgent API",
    "DESCRIPTION": "Ask questions of your own databases in plain language.",
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per choice set that several fields share.
    "ENUM_NAME_OVERRIDES": {
        "TurnSourceEnum": "agent.models.TurnSource",
        "EvaluationRunStatusEnum": "knowledge.models.RunStatus",
        "DeliveryStatusEnum": "schedules.models.Delivery",
    },
}
