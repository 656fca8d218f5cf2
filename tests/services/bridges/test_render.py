from __future__ import annotations

import pytest

from services.bridges.model import Variable
from services.bridges.render import placeholders, render
from services.errors import Invalid

DECLARED = [
    Variable(name="name", required=True),
    Variable(name="tone", default="friendly"),
    Variable(name="extra"),
]


def test_fills_given_values_then_defaults_then_empty() -> None:
    text = render("Hi {{name}}, be {{ tone }}.{{extra}}", DECLARED, {"name": "Ada"})
    assert text == "Hi Ada, be friendly."


def test_missing_required_variables_are_all_named() -> None:
    declared = [*DECLARED, Variable(name="company", required=True)]
    with pytest.raises(Invalid) as caught:
        render("{{name}} at {{company}}", declared, {"tone": "dry"})
    assert caught.value.field == "variables"
    assert caught.value.details["missing"] == ["name", "company"]
    assert "name" in caught.value.message and "company" in caught.value.message


def test_values_are_inserted_verbatim_not_expanded() -> None:
    assert render("{{name}}", DECLARED, {"name": "{{tone}}"}) == "{{tone}}"


def test_non_text_values_become_json() -> None:
    assert render("{{name}}", DECLARED, {"name": {"a": [1, 2]}}) == '{"a":[1,2]}'


def test_placeholders_are_listed_once_in_order() -> None:
    assert placeholders("{{b}} {{a}} {{ b }} {{not valid}}") == ["b", "a"]
