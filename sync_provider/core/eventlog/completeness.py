"""Is an event log complete? A fast check that reads the log without parsing every line.

A log is complete when every part is there (no missing or duplicate rolled parts, no in-progress
file, no part cut in the middle) and it holds one ``SparkListenerApplicationStart`` and a
``SparkListenerApplicationEnd``. Each problem is reported as one sentence.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, Field

from sync_provider.core.errors import EventLogError
from sync_provider.core.eventlog.layout import open_layout, parse_json_object
from sync_provider.core.eventlog.reader import (
    APP_END,
    APP_START,
    MAX_LEADING_MALFORMED,
    ReadStats,
    is_spark_event_name,
    iter_layout_lines,
)

_APP_MARKER = b"SparkListenerApplication"
_MARKER_WINDOW = 120


class CompletenessReport(BaseModel):
    """Whether an event log holds a whole application, and if not, why.

    :param complete: ``True`` when no problem was found.
    :param application_id: the ``App ID`` of the ApplicationStart event (or from the rolling folder).
    :param problems: one sentence per problem, e.g. ``"no SparkListenerApplicationEnd event"``.
    :param layout: ``single``, ``rolling`` or ``databricks``.
    :param parts: part names in reading order.
    """

    complete: bool
    application_id: str | None = None
    problems: list[str] = Field(default_factory=list)
    layout: str | None = None
    parts: list[str] = Field(default_factory=list)


def build_report(
    stats: ReadStats,
    app_ids: list[str],
    has_start: bool,
    has_end: bool,
    extra_problems: list[str] | None = None,
) -> CompletenessReport:
    """Combine what the reader saw into a :class:`CompletenessReport`.

    :param stats: the reader's statistics (layout and stream problems are in ``stats.problems``).
    :param app_ids: distinct ``App ID`` values of ApplicationStart events, in order of appearance.
    :param has_start: whether an ApplicationStart event was seen.
    :param has_end: whether an ApplicationEnd event was seen.
    :param extra_problems: more problems (e.g. a truncated compressed stream).
    """
    problems = list(stats.problems) + list(extra_problems or [])
    if not has_start:
        problems.append(f"no {APP_START} event")
    if len(app_ids) > 1:
        problems.append(f"more than one application: {APP_START} events for {', '.join(app_ids)}")
    if not has_end:
        problems.append(f"no {APP_END} event")
    return CompletenessReport(
        complete=not problems,
        application_id=app_ids[0] if app_ids else stats.application_hint,
        problems=problems,
        layout=stats.layout,
        parts=list(stats.files),
    )


def check_completeness(
    source: str | os.PathLike[str],
    *,
    s3_client: Any = None,
    http_session: Any = None,
    s3_page_size: int | None = None,
) -> CompletenessReport:
    """Check whether an event log is complete, reading it once without parsing every line.

    Problems that make the log incomplete are reported, not raised: in-progress files, missing or
    duplicate rolled parts, Databricks parts without their metadata line or from different
    SparkContexts, a last line cut off, a truncated compressed stream, no ApplicationStart or
    ApplicationEnd event, more than one application.

    :param source: local path, ``s3://`` URL or ``http(s)://`` URL (see
        :func:`~sync_provider.core.eventlog.reader.iter_events`).
    :param s3_client: boto3 S3 client.
    :param http_session: ``requests`` session.
    :param s3_page_size: page size of the S3 listing.
    :raises EventLogError: when the log cannot be read at all: missing location, unsupported scheme,
        empty, not a Spark event log, corrupt compressed data.
    """
    stats = ReadStats()
    app_ids: list[str] = []
    has_start = has_end = False
    extra: list[str] = []
    with open_layout(
        source, s3_client=s3_client, http_session=http_session, s3_page_size=s3_page_size
    ) as layout:
        first_checked = False
        leading = 0
        try:
            for part, lines, _tail in iter_layout_lines(layout, stats):
                start = len(lines) if not first_checked else 0
                if not first_checked:
                    for position, line in enumerate(lines):
                        if not line.strip():
                            continue
                        obj = parse_json_object(line)
                        if obj is None:
                            leading += 1
                            if leading >= MAX_LEADING_MALFORMED:
                                raise EventLogError(
                                    f"{part.where} is not a Spark event log (its first lines are not "
                                    "JSON): pass the file Spark wrote to spark.eventLog.dir.",
                                    detail={"reason": "not_spark", "part": part.where},
                                )
                            continue
                        if not is_spark_event_name(obj.get("Event")):
                            raise EventLogError(
                                f"{part.where} is not a Spark event log (its first JSON object is not "
                                "a Spark listener event): pass the file Spark wrote to "
                                "spark.eventLog.dir.",
                                detail={"reason": "not_spark", "part": part.where},
                            )
                        first_checked = True
                        start = position
                        break
                for index in range(start, len(lines)):
                    line = lines[index]
                    if line.find(_APP_MARKER, 0, _MARKER_WINDOW) < 0:
                        continue
                    event = parse_json_object(line)
                    if event is None:
                        continue
                    name = event.get("Event")
                    if name == APP_START:
                        has_start = True
                        app_id = event.get("App ID")
                        if isinstance(app_id, str) and app_id not in app_ids:
                            app_ids.append(app_id)
                    elif name == APP_END:
                        has_end = True
        except EventLogError as exc:
            if not isinstance(exc.detail, dict) or exc.detail.get("reason") != "truncated":
                raise
            extra.append(exc.message)
        if not first_checked and not extra:
            where = layout.parts[0].where if len(layout.parts) == 1 else layout.source
            if stats.lines:
                raise EventLogError(
                    f"{where} holds no Spark events: it is not a Spark event log or it is corrupt.",
                    detail={"reason": "not_spark", "part": where},
                )
            raise EventLogError(
                f"{where} is empty: it holds no events. Check that Spark finished writing it, "
                "or pass another log.",
                detail={"reason": "empty", "part": where},
            )
    return build_report(stats, app_ids, has_start, has_end, extra)
