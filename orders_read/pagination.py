from typing import Any

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
    page_size_query_description = (
        f"Rows per page: {page_size} by default; a larger value than {max_page_size} "
        f"is capped at {max_page_size}."
    )

    def get_page_size(self, request: Request) -> int:
        """``page_size`` from the query; above ``max_page_size`` it is capped, not refused."""
        value = request.query_params.get(self.page_size_query_param)
        if value is None:
            return self.page_size
        try:
            size = int(value)
        except ValueError:
            size = 0
        if size < 1:
            # DRF would quietly fall back to the default; a bad parameter is a 400.
            raise ValidationError(
                {self.page_size_query_param: ["A whole number of at least 1 is required."]}
            )
        return min(size, self.max_page_size)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            return super().decode_cursor(request)
        except NotFound as exc:
            # A cursor the client mangled is bad input, not a missing resource.
            raise ValidationError({self.cursor_query_param: [str(exc.detail)]}) from exc
