"""The composition root: every client and domain service a process holds, built once at
start-up by `build_context` and handed to the API routes and worker handlers.

Each domain is constructed from exactly the dependencies it needs and never imports this
module (import-linter's contracts in pyproject.toml enforce it). Nothing is built lazily
and no field is filled after construction. `build_context` picks the embedded or the
production adapter for each port from the settings (a URL set means the real service);
`Context.close` releases everything in the reverse order it was opened.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from config import Settings
from services.auth.enduser.runtime import EndUserAuth, start_enduser_auth
from services.auth.service import KeyService
from services.bridges.service import BridgeService
from services.broker.base import Broker
from services.chat.executor import ChatExecutor
from services.chat.runtime import ChatRuntime, build_runtime
from services.credentials.resolve import OrgCredentials
from services.credentials.service import CredentialService
from services.governance import Governance, build_governance, build_run_guard
from services.governance import start as start_governance
from services.jobs.events import JobListeners
from services.jobs.executor import Executor, ExecutorRegistry
from services.jobs.lifecycle import JobLifecycle
from services.jobs.model import JobKind
from services.jobs.runtime import create_job_store, create_stream_store
from services.jobs.store import JobStore
from services.jobs.stream_store import StreamStore
from services.limits.notify import threshold_webhooks
from services.limits.runtime import job_settler
from services.metrics.runtime import Metrics, build_metrics
from services.providers.registry import ProviderRegistry, build_registry
from services.rag.executor import RagExecutor
from services.rag.rerank import LlmReranker
from services.rag.runtime import RagRuntime, build_rag
from services.scheduling.batches import BatchService
from services.scheduling.runtime import build_batches, build_capacity, build_scheduler
from services.scheduling.service import Scheduler
from services.stores import Stores, create_stores, start_config_services
from services.threads.runtime import ThreadsRuntime, chatbot_executor, start_threads
from services.threads.turn_runner import JobTurnRunner
from services.webhooks.dispatch import on_job_finished
from services.webhooks.runtime import Webhooks, build_webhooks, create_store
from services.webhooks.service import validate_url

if TYPE_CHECKING:
    from redis.asyncio import Redis


@dataclass(frozen=True)
class Context:
    settings: Settings
    # Process role, tagged on connections and logs: "all", "api", "worker" or "cli".
    role: str
    broker: Broker
    # The shared Redis client (None on the embedded backend).
    redis: Redis | None
    jobs: JobStore
    # Queued streaming jobs' chunks, for SSE readers on any API process.
    streams: StreamStore
    # The config repositories (API keys, bridges, credentials) on their shared backend.
    stores: Stores
    # Platform API keys: authentication and each org's keys.
    keys: KeyService
    bridges: BridgeService
    credentials: CredentialService
    providers: ProviderRegistry
    chat: ChatRuntime
    webhooks: Webhooks
    metrics: Metrics
    executors: ExecutorRegistry
    lifecycle: JobLifecycle
    # Chatbot threads and turn order; end-user (JWT) authentication; turns as jobs.
    threads: ThreadsRuntime
    enduser: EndUserAuth
    turns: JobTurnRunner
    # RAG collections, documents, ingestion, search and embeddings.
    rag: RagRuntime
    # Rate limits and budgets, key authentication (scopes, revocation), the audit log.
    governance: Governance
    # Fair shares, priorities and provider capacity (services/scheduling).
    scheduler: Scheduler
    batches: BatchService
    _stack: AsyncExitStack

    async def close(self) -> None:
        await self._stack.aclose()


def default_executors(*executors: Executor) -> ExecutorRegistry:
    """One executor per job kind; a kind is added here with one line."""
    registry = ExecutorRegistry()
    for executor in executors:
        registry.register(executor)
    return registry


async def build_context(settings: Settings, *, role: str = "all") -> Context:
    stack = AsyncExitStack()
    try:
        return await _build(settings, role, stack)
    except BaseException:
        await stack.aclose()
        raise


def _redis(settings: Settings, role: str) -> Redis | None:
    if not settings.redis.url:
        return None
    from services.common.redis import create_redis

    return create_redis(settings, role=role)


def _broker(settings: Settings, role: str) -> Broker:
    if settings.rabbit.url:
        from services.broker.rabbit import RabbitBroker

        return RabbitBroker(settings.rabbit, role=role)
    from services.broker.memory import MemoryBroker

    return MemoryBroker(delivery_limit=settings.rabbit.delivery_limit)


async def _build(settings: Settings, role: str, stack: AsyncExitStack) -> Context:
    redis = _redis(settings, role)
    if redis is not None:
        stack.push_async_callback(redis.aclose)
    jobs = create_job_store(settings, redis)
    stack.push_async_callback(jobs.close)
    streams = create_stream_store(settings, redis)
    broker = _broker(settings, role)
    await broker.connect()
    stack.push_async_callback(broker.close)
    stores = create_stores(settings)
    await stores.connect()
    stack.push_async_callback(stores.close)

    config_services = await start_config_services(settings, stores, redis)
    stack.push_async_callback(config_services.close)
    metrics = await build_metrics(settings.timescale, broker, role=role)
    stack.push_async_callback(metrics.close)
    webhooks = build_webhooks(settings, create_store(settings, redis, stores.webhooks), broker)
    stack.push_async_callback(webhooks.close)
    credentials = OrgCredentials(config_services.credentials)
    capacity = build_capacity(settings, redis, credentials)
    providers = build_registry(settings, on_response=capacity.observe)
    stack.push_async_callback(providers.aclose)
    chat = build_runtime(settings, redis, providers=providers, credentials=credentials)
    stack.push_async_callback(chat.close)

    # The threads, end-user auth and RAG repositories share the config stores' Mongo client.
    mongo_db = stores.backend.mongo.db if stores.backend.mongo is not None else None
    threads = await start_threads(settings, redis, database=mongo_db)
    stack.push_async_callback(threads.close)
    enduser = await start_enduser_auth(settings, database=mongo_db)
    stack.push_async_callback(enduser.close)
    model = ChatExecutor(chat, kind=JobKind.MODEL)
    chatbot, summaries = chatbot_executor(threads, model, settings)
    stack.push_async_callback(summaries.aclose)

    rag = await build_rag(
        settings, providers=providers, redis=redis, credentials=credentials, database=mongo_db,
        reranker=LlmReranker(model, provider=settings.rag.rerank_provider, model=settings.rag.rerank_model))
    stack.push_async_callback(rag.close)

    executors = default_executors(model, chatbot, RagExecutor(rag.service, model, config_services.bridges))
    governance = build_governance(settings, redis=redis, find_key=stores.keys.find_api_key,
                                  list_keys=stores.keys.list_api_keys)
    stack.push_async_callback(await start_governance(governance))
    governance.governor.on_threshold(threshold_webhooks(webhooks))
    listeners = JobListeners([metrics.publish, partial(on_job_finished, webhooks), chatbot.job_finished,
                              job_settler(governance.governor)])
    scheduler = build_scheduler(settings, redis, capacity, broker, jobs)
    stack.push_async_callback(scheduler.close)
    lifecycle = JobLifecycle(
        store=jobs, broker=broker, executors=executors, listeners=listeners, streams=streams,
        settings=settings.jobs, check_webhook_url=partial(validate_url, webhooks), admission=scheduler,
        guard=build_run_guard(config_services.bridges, model), start_check=governance.governor,
    )
    batches = build_batches(settings, redis, lifecycle, providers, credentials)
    stack.push_async_callback(batches.provider.close)
    listeners.add(batches.on_job_finished)
    return Context(
        settings=settings, role=role, broker=broker, redis=redis, jobs=jobs, streams=streams,
        stores=stores, keys=KeyService(stores.keys), bridges=config_services.bridges,
        credentials=config_services.credentials, providers=providers, chat=chat,
        webhooks=webhooks, metrics=metrics, executors=executors, lifecycle=lifecycle,
        threads=threads, enduser=enduser, turns=JobTurnRunner(lifecycle, config_services.bridges, threads.service),
        rag=rag, governance=governance, scheduler=scheduler, batches=batches,
        _stack=stack,
    )


def data_path(settings: Settings, name: str) -> Path:
    return Path(settings.app.data_dir) / name
