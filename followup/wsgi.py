import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "followup.settings")

application = get_wsgi_application()

# What start-up loaded (Django, the apps, their modules) lives as long as the process:
# the collector need not walk it again at every full collection. Measured by
# `manage.py bench` (docs/performance.md): a 300-exam timeline's slowest requests
# waited on collections of these objects.
gc.freeze()
