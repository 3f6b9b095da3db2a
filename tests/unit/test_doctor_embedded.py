"""``flask doctor`` on the embedded profile (SQLite, local storage, SQLite queue); the production
profile's good and broken deployments are in tests/production/test_doctor.py."""

import os

import pytest

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("KEPU_TEST_DATABASE_URL")), reason="the embedded profile is SQLite's"
)


def test_the_embedded_test_app_is_refused_for_its_published_test_key(runner):
    result = runner.invoke(args=["doctor"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "[失败 FAIL] 密钥是公开的示例值，请更换 / the secret key is a published example value" in lines
    assert any(line.startswith("[通过 OK  ] 数据库可连接，已迁移到最新版本") for line in lines), result.output
    assert any(line.startswith("[通过 OK  ] 对象存储") for line in lines), result.output
    assert "1 项检查未通过 / 1 check(s) failed" in lines, result.output


def test_a_long_secret_key_passes_on_one_machine(app, runner):
    app.config["SECRET_KEY"] = "k" * 40
    result = runner.invoke(args=["doctor"])
    assert "[失败 FAIL]" not in result.output, result.output
    assert result.exit_code == 0
