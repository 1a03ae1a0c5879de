"""Settings by topic: `sqlagent_project.settings` reads every module here in turn.

A setting lives in the module of its topic, read from the environment with
django-environ (`env` from `environment.py`); `.env.example` documents each one.
"""
