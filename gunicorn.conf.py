"""gunicorn settings for `gunicorn index:app -c gunicorn.conf.py` (the API tier)."""

import multiprocessing
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8080')}"
# One event loop per core: the API is I/O-bound and each loop handles thousands of requests.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "uvicorn_worker.UvicornWorker"
# Requests may wait up to JOBS_MAX_WAIT_S (60 s) for a job; leave headroom above that.
timeout = 90
graceful_timeout = 30
keepalive = 75
accesslog = None
errorlog = "-"
