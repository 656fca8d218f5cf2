"""Document ingestion: the pipeline, the queue that feeds it (Celery or in process)."""
