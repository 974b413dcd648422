"""Fast read-only rows: ``.values()`` rows rendered by orjson as the serializer's output.

The dashboard's list (and its row) is the hot path: building a model instance and running a
``ModelSerializer`` for each of 50 rows costs more than the query itself. The
rows are read as dicts and rendered by orjson into exactly the JSON of
``OrderSummarySerializer`` (the tests compare the two, byte for byte).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from django.utils import timezone
from rest_framework.generics import get_object_or_404
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from orders_read.serializers import OrderSummarySerializer

FIELDS: list[str] = list(OrderSummarySerializer.Meta.fields)
_DATETIMES = ("placed_at", "last_updated")


def _datetime(value: datetime.datetime, zone: datetime.tzinfo) -> str:
    # As DRF's DateTimeField: in the current time zone, ISO 8601, "Z" for UTC.
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def represent(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Rows read with ``.values(*FIELDS)``, which ``OrjsonRenderer`` renders exactly as
    ``OrderSummarySerializer(many=True).data``.

    orjson writes UUIDs, dates and UTC datetimes as DRF's fields do (``"…Z"``, the
    microseconds only when there are some), in C. DRF shows datetimes in the current
    time zone; the database gives them in UTC, so in UTC (``TIME_ZONE``, unless a request
    activates another) the rows go out as read. In another zone the datetimes are
    converted and written here, by DRF's rule: orjson would drop the seconds of an
    offset, which old local times have (Paris was ``+00:09:21``).
    """
    if timezone.get_current_timezone_name() == "UTC":
        return list(rows)
    zone = timezone.get_current_timezone()
    out = []
    for row in rows:
        item = dict(row)
        for name in _DATETIMES:
            if item[name] is not None:
                item[name] = _datetime(item[name], zone)
        out.append(item)
    return out


class OrjsonRenderer(JSONRenderer):
    """DRF's compact JSON, made by orjson (what it cannot encode goes to DRF's encoder).

    ``OPT_UTC_Z``: a UTC datetime ends in ``Z``, as DRF writes it.
    """

    _default = JSONEncoder().default

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        return orjson.dumps(data, default=self._default, option=orjson.OPT_UTC_Z)


class ValuesListMixin:
    """``list()`` and ``retrieve()`` from ``.values()`` rows, for a view whose serializer
    is the summary's (a ``ModelSerializer`` for one row cost more than reading it)."""

    renderer_classes = [OrjsonRenderer]

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset()).values(*FIELDS)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(represent(page))

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The row ``get_object()`` finds (404 when the filters exclude it), as a dict."""
        queryset = self.filter_queryset(self.get_queryset()).values(*FIELDS)
        lookup = self.lookup_url_kwarg or self.lookup_field
        row = get_object_or_404(queryset, **{self.lookup_field: self.kwargs[lookup]})
        self.check_object_permissions(request, row)
        return Response(represent([row])[0])
