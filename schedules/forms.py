"""The Schedules page's form: the API's fields, with a choice of connection."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from accounts.models import User
from connections.selectors import connection_list_for_user
from schedules.models import SCHEDULE_FIELDS, Every
from schedules.timing import WEEKDAYS


class ScheduleForm(forms.Form):
    """The schedule's own fields (SCHEDULE_FIELDS but `paused`, which the page
    toggles with its own button) and the connection it is asked on."""

    connection: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        queryset=None, empty_label=None
    )
    question = forms.CharField(
        max_length=4000, widget=forms.Textarea(attrs={"rows": 2})
    )
    every = forms.ChoiceField(choices=Every.choices, initial=Every.WEEK)
    at = forms.TimeField(
        required=False,
        input_formats=["%H:%M"],
        widget=forms.TimeInput(format="%H:%M", attrs={"type": "time"}),
        help_text="Time of day (day, week, month).",
    )
    weekday = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "—"), *[(str(i), d.title()) for i, d in enumerate(WEEKDAYS)]],
        help_text="For every week.",
    )
    day = forms.IntegerField(
        required=False, min_value=1, max_value=28, help_text="For every month: 1 to 28."
    )
    cron = forms.CharField(
        required=False, max_length=100, help_text="For cron, e.g. 0 9 * * 1-5"
    )
    timezone = forms.CharField(
        max_length=64, initial="UTC", help_text="e.g. Europe/Berlin"
    )
    email = forms.BooleanField(required=False, initial=True, label="Email me")
    webhook_url = forms.URLField(
        required=False,
        max_length=2000,
        label="Webhook URL",
        assume_scheme="https",
        help_text="Slack, Teams or Mattermost incoming webhook, or your own.",
    )

    fields_of_schedule = [n for n in SCHEDULE_FIELDS if n != "paused"]

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choice: Any = self.fields["connection"]
        choice.queryset = connection_list_for_user(user=user)
        question: Any = self.fields["question"]
        question.max_length = settings.QUESTION_MAX_LENGTH

    def service_data(self) -> dict[str, Any]:
        """Return the cleaned fields as the schedule services take them."""
        data = dict(self.cleaned_data)
        data["connection_id"] = data.pop("connection").pk
        return data
