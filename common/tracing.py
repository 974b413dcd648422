"""One trace from request to projection (OpenTelemetry), off unless asked for, free when off.

On when ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``; ``none`` or
unset: off) and ``OTEL_SDK_DISABLED`` is not ``true``; every other standard ``OTEL_*``
variable (``OTEL_SERVICE_NAME``, ``OTEL_EXPORTER_OTLP_ENDPOINT``, ...) is read by the
SDK itself. ``start`` sets up the SDK with a batch span processor and instruments
Django (a span per request) and psycopg (a span per statement). The batch processor
runs a thread, and a thread does not survive ``fork``: under gunicorn ``start`` runs in
each worker (``post_fork`` in ``config/gunicorn.py``); ``manage.py`` runs it for its
commands (the follower, ``runserver``).

Off, nothing is imported from the SDK or the instrumentations and every helper here
returns at once: ``span`` is a null context, events carry no trace context.

What the trace shows: the request; a span per command with its outcome code
(``command_span``); the trace context of the command's span stored in each event's
metadata (``trace_context``); and the projection's work, inline or in the follower, in
spans linked to those contexts (``span(..., links=...)``), so one trace leads from the
request through the command and its events to every projection that applied them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

# The key of the W3C trace context in an event's metadata.
TRACE_CONTEXT_KEY = "trace_context"

_active = False


def requested() -> bool:
    """Whether the environment asks for tracing (see the module docstring)."""
    exporters = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    return bool(exporters) and exporters != "none" and not disabled


def active() -> bool:
    return _active


def start(exporter: SpanExporter | None = None) -> bool:
    """Set up the SDK and the instrumentations if asked (or given an ``exporter``).

    Returns whether tracing is on. ``exporter`` (tests: the in-memory one) is exported
    to span by span instead of the environment's exporters.
    """
    global _active
    if _active or (exporter is None and not requested()):
        return _active
    from opentelemetry import trace
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        # The SDK reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES itself.
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        for configured in _exporters():
            provider.add_span_processor(BatchSpanProcessor(configured))
    DjangoInstrumentor().instrument()
    PsycopgInstrumentor().instrument()
    _active = True
    return True


def stop() -> None:
    """Undo the instrumentations (tests); spans already exported stay."""
    global _active
    if not _active:
        return
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    DjangoInstrumentor().uninstrument()
    PsycopgInstrumentor().uninstrument()
    _active = False


def _exporters() -> list[SpanExporter]:
    exporters: list[SpanExporter] = []
    for name in os.environ["OTEL_TRACES_EXPORTER"].lower().split(","):
        name = name.strip()
        if name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter())
        elif name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
        elif name and name != "none":
            raise ValueError(f"OTEL_TRACES_EXPORTER: unknown exporter {name!r}")
    return exporters


@contextlib.contextmanager
def span(
    name: str,
    *,
    links: Iterable[Mapping[str, Any]] = (),
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[Any]:
    """A span around the block (None when tracing is off), linked to ``links``.

    ``links`` are events' metadata: each trace context found there becomes a link.
    """
    if not _active:
        yield None
        return
    from opentelemetry import trace

    tracer = trace.get_tracer("orders")
    with tracer.start_as_current_span(
        name, links=_links(links), attributes=dict(attributes or {})
    ) as current:
        yield current


def command_span(command: str) -> contextlib.AbstractContextManager[Any]:
    """The span of one command; its outcome is set with ``set_outcome``."""
    return span(f"command {command}", attributes={"orders.command": command})


def set_outcome(current: Any, outcome: str) -> None:
    if current is not None:
        current.set_attribute("orders.command.outcome", outcome)


def trace_context() -> dict[str, str]:
    """The current span's W3C trace context (``traceparent``), for an event's metadata."""
    if not _active:
        return {}
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier


def _links(metadata: Iterable[Mapping[str, Any]]) -> list[Any]:
    from opentelemetry import trace
    from opentelemetry.propagate import extract

    links, seen = [], set()
    for entry in metadata:
        carrier = entry.get(TRACE_CONTEXT_KEY)
        if not carrier:
            continue
        context = trace.get_current_span(extract(carrier)).get_span_context()
        if context.is_valid and (context.trace_id, context.span_id) not in seen:
            seen.add((context.trace_id, context.span_id))
            links.append(trace.Link(context))
    return links
