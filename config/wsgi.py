"""WSGI entry point (``gunicorn config.wsgi``)."""

import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

if not settings.DEBUG and not os.environ.get("SECRET_KEY"):
    # Never serve real traffic with the committed development key.
    raise ImproperlyConfigured("Set SECRET_KEY to serve with DEBUG off.")
