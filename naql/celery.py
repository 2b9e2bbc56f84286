"""The Celery application.

Service mode: ``CELERY_BROKER_URL=redis://…`` and separate ``celery -A naql worker`` processes.
Embedded default: a filesystem broker under ``NAQL_DATA_DIR/broker`` and a worker that
``manage.py run`` starts beside the web server, so nothing else has to be installed.
"""

import logging
import os

from celery import Celery
from celery.signals import celeryd_after_setup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "naql.settings")

app = Celery("naql")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@celeryd_after_setup.connect
def _browser_queue_only_with_chromium(sender, instance, **kwargs):
    """A worker consumes the ``browser`` queue only when it can run browser captures: without
    Chromium it leaves browser jobs queued for a worker that has it (and says so in its log)."""
    from django.conf import settings

    from archive.capture.browser import browser_missing_reason

    queues = instance.app.amqp.queues
    if settings.NAQL_BROWSER_QUEUE not in queues.consume_from:
        return
    reason = browser_missing_reason()
    if reason:
        queues.deselect([settings.NAQL_BROWSER_QUEUE])
        logging.getLogger("naql.celery").warning(
            "this worker does not take browser capture jobs (queue %r): %s", settings.NAQL_BROWSER_QUEUE, reason)
