"""vidrag workers: the Celery app and its tasks, thin shells over `indexer.pipeline` stages."""
