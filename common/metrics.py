"""``/metrics`` in the Prometheus text format, for whoever is allowed to scrape it.

Counters and histograms live in each process (prometheus-client). Under gunicorn every
worker counts its own requests, so a scrape answered by one worker would show a
fraction that jumps between scrapes; in multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``,
set by ``config/gunicorn.py``) each worker writes its values to files there and the
scrape adds them up. Values read at scrape time (the projections' lag, from the
database) come from collectors registered with ``register_scrape_collector``: they are
the same whichever worker answers, so they are asked, not summed.

Who may scrape (``scrape_allowed``): a request with ``Authorization: Bearer
<METRICS_BEARER_TOKEN>``, or from an address in ``METRICS_ALLOWED_IPS``. With neither
set, ``DEBUG`` serves loopback only and production refuses everyone: the numbers say
how busy the business is.
"""

from __future__ import annotations

import ipaddress
import os
import secrets

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

LOOPBACK = ("127.0.0.0/8", "::1/128")

_scrape_collectors: list[Collector] = []


def register_scrape_collector(collector: Collector) -> None:
    """Add a collector read at each scrape, in whichever process answers it."""
    if collector not in _scrape_collectors:
        _scrape_collectors.append(collector)


def scrape_allowed(request: HttpRequest) -> bool:
    """Whether ``request`` may read the metrics (see the module docstring)."""
    token = settings.METRICS_BEARER_TOKEN
    networks = settings.METRICS_ALLOWED_IPS
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and secrets.compare_digest(given.encode(), token.encode()):
            return True
    if not networks and not token and settings.DEBUG:
        networks = LOOPBACK
    return _address_in(request.META.get("REMOTE_ADDR", ""), networks)


def _address_in(address: str, networks: tuple[str, ...] | list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # a unix socket (behind a proxy): no address to trust
    return any(ip in ipaddress.ip_network(network, strict=False) for network in networks)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Every metric of every process, then the scrape-time ones, as Prometheus text."""
    if not scrape_allowed(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    scraped = CollectorRegistry()
    for collector in _scrape_collectors:
        scraped.register(collector)
    body = generate_latest(_process_registry()) + generate_latest(scraped)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


def _process_registry() -> CollectorRegistry:
    """This process's metrics, or in multiprocess mode every worker's, added up."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry
