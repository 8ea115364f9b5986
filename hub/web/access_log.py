"""The access log of ``hub serve`` without query strings: they can carry a name searched on the desk or a query code."""

from __future__ import annotations

import logging

__all__ = ("QueryStringRedactor", "redact_access_log")

ACCESS_LOGGER = "uvicorn.access"


class QueryStringRedactor(logging.Filter):
    """Cuts the query string off the path of each uvicorn access-log line (``GET /desk?q=…`` is logged
    ``GET /desk?…``): a desk search by an applicant's name, a progress query's code or a login's next page
    must not reach a log file an operator copies around (docs/security.md, personal data)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn's access line: (client address, method, full path, HTTP version, status code).
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (args[0], args[1], args[2].split("?", 1)[0] + "?…", args[3], args[4])
        return True


def redact_access_log() -> None:
    """Install the redactor on uvicorn's access logger once per process (each worker makes its app)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, QueryStringRedactor) for f in logger.filters):
        logger.addFilter(QueryStringRedactor())
