"""Loading the division codes and walking the hierarchy."""

import json
from pathlib import Path

from sqlalchemy import insert, select

from cloud.extensions import db
from cloud.regions.models import Region

DATA_FILE = Path(__file__).parent / "data" / "pcas-code.json"


def read_regions(path=DATA_FILE):
    """Yield (code, name, level, parent_code) for every division in the tree file."""
    tree = json.loads(Path(path).read_text(encoding="utf-8"))
    stack = [(node, 1, None) for node in reversed(tree)]
    while stack:
        node, level, parent = stack.pop()
        yield node["code"], node["name"], level, parent
        stack.extend((child, level + 1, node["code"]) for child in reversed(node.get("children", [])))


def load_regions(path=DATA_FILE):
    """Insert missing divisions and rename changed ones; return (added, renamed). Idempotent."""
    existing = {
        code: (name, parent)
        for code, name, parent in db.session.execute(select(Region.code, Region.name, Region.parent_code))
    }
    new_rows, renamed = [], 0
    for code, name, level, parent in read_regions(path):
        current = existing.get(code)
        if current is None:
            new_rows.append({"code": code, "name": name, "level": level, "parent_code": parent})
        elif current != (name, parent):
            region = db.session.get(Region, code)
            region.name, region.parent_code = name, parent
            renamed += 1
    # Parents come before children in the file's order, which keeps the foreign key satisfied.
    for start in range(0, len(new_rows), 5000):
        db.session.execute(insert(Region), new_rows[start : start + 5000])
    db.session.flush()
    return len(new_rows), renamed


def children(parent_code=None):
    """Divisions directly under ``parent_code`` (provinces when None), in code order."""
    stmt = select(Region).order_by(Region.code)
    if parent_code:
        stmt = stmt.where(Region.parent_code == parent_code)
    else:
        stmt = stmt.where(Region.parent_code.is_(None))
    return db.session.scalars(stmt).all()


def ancestry(code):
    """The chain of divisions from the province down to ``code`` (empty if unknown)."""
    chain = []
    region = db.session.get(Region, code) if code else None
    while region is not None:
        chain.append(region)
        region = db.session.get(Region, region.parent_code) if region.parent_code else None
    return list(reversed(chain))


def full_name(code):
    return "".join(r.name for r in ancestry(code) if r.name not in ("市辖区", "县"))
