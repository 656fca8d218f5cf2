"""Every queue name in one place."""

from enum import StrEnum

JOB_QUEUE_PREFIX = "jobs."


class Queue(StrEnum):
    MODEL = "jobs.model"
    CHATBOT = "jobs.chatbot"
    RAG = "jobs.rag"
    WEBHOOKS = "webhooks"
    METRICS = "metrics"


def job_queue(kind: str) -> str:
    """The queue a job kind's messages go to (`jobs.<kind>`), for built-in and added kinds."""
    return f"{JOB_QUEUE_PREFIX}{kind}"


def dead_letter_queue(queue: str) -> str:
    return f"{queue}.dead"


def delay_queue(queue: str, delay_ms: int) -> str:
    return f"{queue}.delay.{delay_ms}"
