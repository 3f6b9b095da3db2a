"""``flask storage verify`` finds objects whose bytes no longer match the database."""

import io

from cloud.extensions import db
from cloud.files.service import get_storage, store_file


def test_verify_reports_changed_and_missing_objects(app, runner):
    with app.app_context():
        intact = store_file(io.BytesIO(b"intact" * 1000), original_name="完好.txt", content_type="text/plain")
        changed = store_file(io.BytesIO(b"original bytes"), original_name="被改.txt")
        resized = store_file(io.BytesIO(b"original bytes"), original_name="变长.txt")
        missing = store_file(io.BytesIO(b"soon gone"), original_name="丢失.txt")
        db.session.commit()
        keys = intact.key, changed.key, resized.key, missing.key
        assert runner.invoke(args=["storage", "verify"]).exit_code == 0

        storage = get_storage()
        storage.save(changed.key, io.BytesIO(b"ORIGINAL BYTES"))  # same size, other bytes
        storage.save(resized.key, io.BytesIO(b"original bytes!"))
        storage.delete(missing.key)

    result = runner.invoke(args=["storage", "verify"])
    assert result.exit_code == 1
    assert "checked 4 objects, 3 problems" in result.output
    assert f"BAD {keys[1]}" in result.output and "sha256" in result.output
    assert f"BAD {keys[2]}" in result.output and "size 15, expected 14" in result.output
    assert f"BAD {keys[3]}" in result.output and "missing" in result.output
    assert f"BAD {keys[0]}" not in result.output


def test_stored_keys_are_random_and_names_are_metadata(app):
    with app.app_context():
        row = store_file(io.BytesIO(b"x"), original_name="../../etc/passwd 课程视频.mp4")
        assert ".." not in row.key and "passwd" not in row.key and "课程" not in row.key
        assert row.original_name == "../../etc/passwd 课程视频.mp4"


def test_orphan_sweep_removes_old_unrecorded_objects_only(app, runner):
    import os
    import time

    from cloud.files.service import new_key

    with app.app_context():
        kept = store_file(io.BytesIO(b"recorded"), original_name="有记录.txt")
        db.session.commit()
        storage = get_storage()
        old_orphan, young_orphan = new_key(), new_key()
        storage.save(old_orphan, io.BytesIO(b"the commit after this write failed"))
        storage.save(young_orphan, io.BytesIO(b"a job is about to commit this"))
        day_ago = time.time() - 25 * 3600
        for key in (old_orphan, kept.key):
            path = os.path.join(app.config["KEPU_STORAGE_DIR"], key)
            os.utime(path, (day_ago, day_ago))
    result = runner.invoke(args=["resources", "sweep-orphans", "--older-than", "24"])
    assert "removed 1 orphan object(s)" in result.output
    with app.app_context():
        storage = get_storage()
        assert not storage.exists(old_orphan)
        assert storage.exists(young_orphan) and storage.exists(kept.key)
