"""The Celery peer of the tasks benchmark: one `uppercase` task on a Redis
broker and result backend, with Celery's defaults otherwise (prefork pool,
one process per core, early acks: a message is acknowledged when a worker
takes it, so a worker that dies mid-task loses it).

Run by bench/tasks.ts as:
    python3 -m celery -A celery_app worker --loglevel=WARNING
with BENCH_REDIS_URL set and this directory as the working directory.
"""
import os

from celery import Celery

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")

app = Celery("colmena_bench", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="uppercase")
def uppercase(text):
    return text.upper()
