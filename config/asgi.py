"""ASGI entry point (``uvicorn config.asgi:application``, ``daphne config.asgi``)."""

import os

from django.conf import settings
from django.core.asgi import get_asgi_application
from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_asgi_application()

if not settings.DEBUG and not os.environ.get("SECRET_KEY"):
    # Never serve real traffic with the committed development key (as config/wsgi.py).
    raise ImproperlyConfigured("Set SECRET_KEY to serve with DEBUG off.")
