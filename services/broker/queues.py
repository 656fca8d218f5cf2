"""Every queue name in one place."""

from enum import StrEnum

from services.jobs.model import JobKind


class Queue(StrEnum):
    MODEL = "jobs.model"
    CHATBOT = "jobs.chatbot"
    RAG = "jobs.rag"
    WEBHOOKS = "webhooks"
    METRICS = "metrics"

    @classmethod
    def for_kind(cls, kind: JobKind) -> "Queue":
        return cls(f"jobs.{kind.value}")


def dead_letter_queue(queue: str) -> str:
    return f"{queue}.dead"


def delay_queue(queue: str, delay_ms: int) -> str:
    return f"{queue}.delay.{delay_ms}"
