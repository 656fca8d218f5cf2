"""check_json: the depth limit counts containers, not leaves, and a lone surrogate is found
wherever it hides (dict keys, tuples, str subclasses, models that are not Bounded)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from services.common.bounded import MAX_DEPTH, STORED, Bounded, check_json


def _nested(levels: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("leaf", [{}, [], {"a": 1}])
def test_a_container_at_the_depth_limit_is_refused_even_empty(leaf: Any) -> None:
    check_json(_nested(MAX_DEPTH - 1, leaf))
    with pytest.raises(ValueError, match="levels deep"):
        check_json(_nested(MAX_DEPTH, leaf))


@pytest.mark.parametrize("leaf", [1, "x", None, 2.5, True])
def test_a_scalar_one_level_deeper_than_the_deepest_container_is_fine(leaf: Any) -> None:
    check_json(_nested(MAX_DEPTH, leaf))
    with pytest.raises(ValueError, match="levels deep"):
        check_json(_nested(MAX_DEPTH + 1, leaf))


class _Tag(StrEnum):
    BAD = "x\ud800"


class _Plain(BaseModel):
    note: Any = None


@pytest.mark.parametrize("value", [
    "a\ud800", ["ok", {"k\udc00": 1}], ("t", "\ud800"), _Tag.BAD, [_Plain(note={"n": "\ud800"})],
])
def test_a_lone_surrogate_is_found_wherever_it_is(value: Any) -> None:
    with pytest.raises(ValueError, match="surrogate"):
        check_json(value)


@pytest.mark.parametrize("value", [{}, [], "", "héllo", {"k": ["v", 1, None]}, (1, "a"), _Plain(note=[1])])
def test_plain_json_passes(value: Any) -> None:
    check_json(value)


class _Request(Bounded):
    data: Any


def test_a_payload_read_back_from_the_store_is_not_walked_again_but_any_other_is() -> None:
    deep = _nested(MAX_DEPTH + 1, 1)
    assert _Request.model_validate({"data": deep}, context=STORED).data == deep
    with pytest.raises(ValidationError, match="levels deep"):
        _Request.model_validate({"data": deep})
    # Only the STORED object itself: a context that merely looks like it is walked.
    with pytest.raises(ValidationError, match="levels deep"):
        _Request.model_validate({"data": deep}, context=dict(STORED))
