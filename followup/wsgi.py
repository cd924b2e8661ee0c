"""The WSGI application gunicorn serves (Procfile, Dockerfile)."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "followup.settings")

application = get_wsgi_application()

# What start-up loaded (Django, the apps, their modules) lives as long as the process:
# the collector need not walk it again at every full collection. Measured in-process
# over 300 timeline requests (docs/performance.md): a full collection went from 56 ms
# to 4 ms, and a pause in one worker stalls all of its threads.
gc.freeze()
