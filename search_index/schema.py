"""The index schema, and the translation of the caller's plain dicts into its fields."""

import datetime as dt
import re

from whoosh import columns, fields

from search_index.analysis import TITLE_END, TITLE_START, chinese_analyzer

SORTS = ("relevance", "newest", "downloads")
# Date filters work on calendar days in China Standard Time, the days the users mean.
CHINA_TIME = dt.timezone(dt.timedelta(hours=8), "CST")
_EPOCH_DAY = dt.date(1970, 1, 1)
_TAG_SPLIT = re.compile(r"[,，、;；\s]+")
_MARKS = str.maketrans({TITLE_START: " ", TITLE_END: " "})


def make_schema():
    """A new schema object (Whoosh keeps one per index, pickled in its table of contents).

    ``text`` holds title, summary, body, tags and institution name, one per line, with positions:
    every query word must occur in it (one posting list per word instead of a union over five
    fields). The title's words weigh more (TITLE_WEIGHT, see ``analysis``).

    The time of publication and the download count are columns, not indexed terms: sorting reads
    them, and date filters work on the days ``matching`` derives from the time.
    """
    analyzer = chinese_analyzer()
    return fields.Schema(
        id=fields.ID(stored=True, unique=True, sortable=True),
        ref=fields.STORED(),  # the caller's id as given (an int stays an int)
        text=fields.TEXT(analyzer=analyzer),
        title=fields.STORED(),
        summary=fields.STORED(),
        institution_id=fields.ID(),
        kind=fields.ID(),
        channel=fields.ID(),
        region_code=fields.ID(),
        published_at=fields.COLUMN(columns.NumericColumn("q", default=0)),
        downloads=fields.COLUMN(columns.NumericColumn("Q", default=0)),
    )


def split_tags(tags):
    """Tags given as a list, or as one string separated by commas, 、 or spaces."""
    if not tags:
        return []
    if isinstance(tags, str):
        tags = _TAG_SPLIT.split(tags)
    return [t.strip() for t in tags if t and t.strip()]


def to_aware(value):
    """A datetime as an aware one (naive means UTC); a date as its midnight in China Standard Time.
    Raises TypeError for anything else."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=CHINA_TIME)
    raise TypeError(f"expected a datetime or date, got {type(value).__name__}")


def day_number(value):
    """The China Standard Time calendar day of a datetime or date, as days since 1970-01-01.
    A date is taken as it is. Raises TypeError for anything else."""
    if not isinstance(value, dt.datetime) and isinstance(value, dt.date):
        return (value - _EPOCH_DAY).days
    return (to_aware(value).astimezone(CHINA_TIME).date() - _EPOCH_DAY).days


def document_fields(doc):
    """The Whoosh fields for one resource given as a plain dict.

    Keys: ``id`` and ``title`` (required); ``summary``, ``body``, ``tags`` (list or separated
    string), ``institution`` (name), ``institution_id``, ``kind``, ``channel``, ``region_code``,
    ``published_at`` (datetime, naive means UTC; or date), ``downloads`` (int). Missing, None and
    empty values are left out. Raises ValueError when ``id`` or ``title`` is missing, TypeError
    for a ``published_at`` that is not a date.
    """
    resource_id = doc.get("id")
    title = doc.get("title")
    if resource_id is None or resource_id == "":
        raise ValueError("a search document needs an id")
    if not title:
        raise ValueError(f"search document {resource_id!r} has no title")
    tags = split_tags(doc.get("tags"))
    lines = [doc.get("summary"), doc.get("body"), "\n".join(tags), doc.get("institution")]
    # The marks around the title weight its words; any in the user's text are blanked first.
    marked_title = TITLE_START + title.translate(_MARKS) + TITLE_END
    out = {
        "id": str(resource_id),
        "ref": resource_id,
        "text": "\n".join([marked_title, *(line.translate(_MARKS) for line in lines if line)]),
        "title": title,
        "summary": doc.get("summary") or "",
        "downloads": max(0, int(doc.get("downloads") or 0)),
    }
    for key in ("institution_id", "kind", "channel", "region_code"):
        value = doc.get(key)
        if value is not None and value != "":
            out[key] = str(value)
    published_at = doc.get("published_at")
    if published_at is not None:
        out["published_at"] = int(to_aware(published_at).timestamp())
    return out
