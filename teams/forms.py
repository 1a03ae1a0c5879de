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
