"""The Celery application.

Service mode: ``CELERY_BROKER_URL=redis://…`` and separate ``celery -A naql worker`` processes.
Embedded default: a filesystem broker under ``NAQL_DATA_DIR/broker`` and a worker that
``manage.py run`` starts beside the web server, so nothing else has to be installed.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "naql.settings")

app = Celery("naql")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
