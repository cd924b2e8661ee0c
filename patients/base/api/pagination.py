"""The API's pages: a cursor on the primary key, stable over growing tables, no COUNT(*)."""

from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    """Stable pages over growing tables: keyset on the primary key, no COUNT(*)."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500
