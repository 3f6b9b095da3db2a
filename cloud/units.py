"""Numbers as people read them on a page."""

_UNITS = ("KB", "MB", "GB", "TB")


def human_size(size):
    """A byte count as people read it: ``512 B``, ``1.5 KB``, ``23 MB``, ``4 GB`` (1 KB = 1024 B).

    One decimal below ten of a unit, none above; a trailing ``.0`` is dropped, and nothing that
    holds bytes is ever shown as ``0 KB`` or ``0.0 MB``. ``None`` (size unknown) is an empty string.
    """
    if size is None:
        return ""
    size = int(size)
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in _UNITS:
        value /= 1024
        shown = round(value, 1) if value < 10 else round(value)
        if shown < 1024 or unit == _UNITS[-1]:
            return f"{shown:g} {unit}"
    raise AssertionError("unreachable")
