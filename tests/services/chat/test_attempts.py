from dataclasses import asdict

from services.chat.attempts import Attempt
from services.errors import Retryable


def test_as_dict_has_every_field() -> None:
    # as_dict is spelled out for speed: a field added to Attempt must be added there too.
    failed = Attempt.failed("openai", "gpt-4o-mini", Retryable("slow", code="timeout"), 12.3456)
    assert failed.as_dict() == asdict(failed)
    assert failed.as_dict()["error_code"] == "timeout" and failed.as_dict()["retryable"] is True
