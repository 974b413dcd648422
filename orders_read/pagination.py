from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request


class DashboardPagination(CursorPagination):
    """Keyset pages, newest first: as fast at any depth as on the first page.

    The ordering is unique (``order_id`` breaks ties) and never changed by a
    projection, so a page never skips or repeats a row.
    """

    ordering = ("-placed_at", "-order_id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            return super().decode_cursor(request)
        except NotFound as exc:
            # A cursor the client mangled is bad input, not a missing resource.
            raise ValidationError({self.cursor_query_param: [str(exc.detail)]}) from exc
