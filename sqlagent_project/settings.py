"""Settings for SQLAgent, read from the environment (and `.env`) with django-environ.

Production differs from development by environment variables only; `.env.example`
documents every variable. Each topic is a module of `sqlagent_project/conf/`, and no
two define the same setting; this module, the one Django loads
(DJANGO_SETTINGS_MODULE), gathers them all.
"""

from __future__ import annotations

from sqlagent_project.conf.agent import *  # asks, the agent loop, charts, boards
from sqlagent_project.conf.auth import *  # users, DRF, JWTs, rate limits, lockout
from sqlagent_project.conf.databases import *  # the app's own database, the cache
from sqlagent_project.conf.environment import *  # BASE_DIR, VERSION, VAR_DIR, env
from sqlagent_project.conf.knowledge import *  # retrieval, evaluation, value index
from sqlagent_project.conf.llm import *  # provider, model, budget, tool protocol
from sqlagent_project.conf.logs import *  # LOGGING
from sqlagent_project.conf.project import *  # apps, middleware, static, API docs
from sqlagent_project.conf.queue import *  # Celery and periodic work
from sqlagent_project.conf.schedules import *  # scheduled questions, email, webhooks
from sqlagent_project.conf.security import *  # secrets, HTTPS, request bodies
from sqlagent_project.conf.targets import *  # target databases, query bounds
