"""gunicorn settings for `gunicorn index:app -c gunicorn.conf.py` (the API tier)."""

import multiprocessing
import os
import sys

# Loopback unless APP_HOST says otherwise (the Dockerfile sets 0.0.0.0).
bind = f"{os.environ.get('APP_HOST', '127.0.0.1')}:{os.environ.get('PORT', '8080')}"
# One event loop per core: the API is I/O-bound and each loop handles thousands of requests.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
if workers > 1 and not (os.environ.get("QUEUE_CONNECTIONURL") and os.environ.get("REDIS_URI")):
    # Each worker would hold its own embedded broker and job store: a job submitted to one
    # worker would 404 on the others at random.
    sys.exit(f"gunicorn with {workers} workers needs QUEUE_CONNECTIONURL and REDIS_URI: the embedded "
             "backends live inside one process. Set both, or run one worker (WEB_CONCURRENCY=1).")
# uvloop, and one socket write per event-loop turn (api/serving.py).
worker_class = "api.serving.Worker"
# Requests may wait up to JOBS_MAX_WAIT_S (60 s) for a job; leave headroom above that.
timeout = 90
graceful_timeout = 30
keepalive = 75
accesslog = None
errorlog = "-"
