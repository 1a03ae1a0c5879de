from __future__ import annotations

from django import forms

from teams.models import TeamRole


class TeamForm(forms.Form):
    name = forms.CharField(label="Team name", max_length=100)


class MemberAddForm(forms.Form):
    email = forms.EmailField(
        label="Email",
        help_text="Someone not registered yet joins when they sign up with it.",
    )
    role = forms.ChoiceField(label="Role", choices=TeamRole.choices)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=TeamRole.choices)


class BudgetForm(forms.Form):
    asks_per_day = forms.IntegerField(
        label="Questions per day",
        min_value=0,
        max_value=2**31 - 1,
        required=False,
        help_text="On the team's connections, by anyone (UTC days). 0: no limit; "
        "empty: the service's default.",
    )
    tokens_per_day = forms.IntegerField(
        label="Model tokens per day",
        min_value=0,
        max_value=2**62,
        required=False,
        help_text="0: no limit; empty: the service's default.",
    )
