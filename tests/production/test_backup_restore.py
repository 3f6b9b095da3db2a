"""The guide's backup and restore (docs/deploy.md, "Backups"), followed literally.

``scripts/backup.sh`` runs on a node of the live deployment; ``scripts/restore.sh`` restores into
an empty database, an empty bucket and an empty index directory, as after losing all three. The
restored deployment has the same resources, the same files (SHA-256 of every object read back
from the new bucket) and finds the same things.
"""

import hashlib
import secrets
import subprocess
import sys

import pytest
from sqlalchemy import select

from cloud.catalog.service import SearchParams, search
from cloud.extensions import db
from cloud.files.models import StoredFile
from cloud.files.service import get_storage
from cloud.resources.models import Resource
from tests.conftest import TESTDATA
from tests.production.conftest import publish_image
from tests.support.postgres import _bindir
from tests.support.production import ROOT

pytestmark = pytest.mark.production

PHOTOS = [
    f"{TESTDATA}/images/pillow_flower.jpg",
    f"{TESTDATA}/images/sharp_Channel_digital_image_CMYK_color.jpg",
]


def script(production, name, directory, **env):
    bindir = _bindir()
    tools = {"FLASK": f"{sys.executable} -m flask --app wsgi", "PG_DUMP": f"{bindir}/pg_dump",
             "PG_RESTORE": f"{bindir}/pg_restore"}  # fmt: skip
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / name), str(directory)],
        cwd=ROOT,
        env=production.env(**tools, **env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def snapshot(app):
    """Resources, files and what search finds, as a deployment's database, bucket and index say."""
    with app.app_context():
        resources = db.session.execute(
            select(Resource.id, Resource.title, Resource.state, Resource.download_count).order_by(Resource.id)
        ).all()
        storage = get_storage()
        files = {}
        for row in db.session.scalars(select(StoredFile).order_by(StoredFile.id)):
            data = b"".join(storage.open(row.key))
            assert hashlib.sha256(data).hexdigest() == row.sha256  # the object itself, read back
            files[row.key] = (row.size, row.sha256)
        found = {q: [row.id for row, _hit in search(SearchParams(q=q)).items] for q in ("备份", "花", "色彩")}
        db.session.rollback()
    return [tuple(r) for r in resources], files, found


def test_restore_from_the_guides_backup_brings_back_resources_files_and_search(production, people, http,
                                                                                  tmp_path):  # fmt: skip
    rids = [
        publish_image(production, http, people, PHOTOS[0], "备份测试春天的花"),
        publish_image(production, http, people, PHOTOS[1], "备份测试色彩样张"),
    ]
    before = snapshot(production.app())
    assert [r[0] for r in before[0] if r[0] in rids] == rids
    assert sorted(before[2]["备份"]) == sorted(rids)
    with open(PHOTOS[0], "rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() in {sha for _, sha in before[1].values()}

    backup = tmp_path / "backup"
    script(production, "backup.sh", backup)

    # Lost: restore into an empty database, an empty bucket and no index at all.
    target = {
        "KEPU_DATABASE_URL": production.extra_database(),
        "KEPU_S3_BUCKET": f"kepu-restored-{secrets.token_hex(4)}",
        "KEPU_INDEX_DIR": str(tmp_path / "restored-index"),
    }
    out = script(production, "restore.sh", backup, **target)
    assert "problems" in out and ", 0 problems" in out, out  # flask storage verify

    restored = production.app(
        SQLALCHEMY_DATABASE_URI=target["KEPU_DATABASE_URL"],
        KEPU_S3_BUCKET=target["KEPU_S3_BUCKET"],
        KEPU_INDEX_DIR=target["KEPU_INDEX_DIR"],
    )
    assert snapshot(restored) == before
