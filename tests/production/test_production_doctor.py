"""``flask doctor`` on a good production deployment, and on the same one broken on purpose."""

import pytest

pytestmark = pytest.mark.production


def doctor(production, **env):
    result = production.flask("doctor", check=False, **env)
    return result.returncode, result.stdout


def failures(output):
    return [line for line in output.splitlines() if line.startswith("[失败 FAIL]")]


def test_a_good_deployment_passes_every_check(production):
    code, out = doctor(production)
    assert code == 0, out
    assert failures(out) == []
    for expected in (
        "密钥已设置 / secret key set",
        "数据库可连接，已迁移到最新版本",
        "Redis 可连接，任务队列在 Redis 中",
        f"对象存储（{production.bucket}）可写可读",
        "S3 拒绝了错误密钥的请求 / S3 refuses a request signed with a wrong key",
        "ffmpeg 和 ffprobe 可用",
        "全部检查通过 / all checks passed",
    ):
        assert expected in out, out
    # Both web nodes (at their first request) and both workers (at start) recorded the same key.
    line = next(line for line in out.splitlines() if "个节点的密钥一致" in line)
    assert int(line.split("] ", 1)[1].split(" ", 1)[0]) >= 4, line


def test_a_wrong_s3_key_fails_the_storage_check(production):
    code, out = doctor(production, KEPU_S3_SECRET_KEY="not-the-key")
    assert code == 1
    assert [line for line in failures(out) if "对象存储" in line and "not writable" in line], out


def test_an_unmigrated_database_fails(production):
    code, out = doctor(production, KEPU_DATABASE_URL=production.extra_database())
    assert code == 1
    assert any("数据库未迁移到最新版本" in line and "flask db upgrade" in line for line in failures(out)), out


def test_missing_ffmpeg_fails(production, tmp_path):
    code, out = doctor(production, PATH=str(tmp_path))  # nothing on PATH, no KEPU_FFMPEG
    assert code == 1
    assert [line for line in failures(out) if "ffmpeg" in line] != [], out


def test_an_unset_secret_key_fails_and_differs_from_the_other_nodes(production):
    code, out = doctor(production, KEPU_SECRET_KEY="")
    assert code == 1
    failed = failures(out)
    assert any("未设置 KEPU_SECRET_KEY" in line for line in failed), out
    assert any("个节点的密钥与本节点不同" in line for line in failed), out  # a key of its own
