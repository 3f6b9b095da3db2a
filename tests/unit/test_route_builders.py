"""The suite compiles each URL rule's builder once per process (tests/support/routes.py): every
rule of the app must build its URLs with exactly the function werkzeug would compile for it."""

from tests.conftest import make_app
from tests.support.routes import compile_builder


def test_every_rule_builds_with_the_function_werkzeug_compiles_for_it(app):
    rules = list(app.url_map.iter_rules())
    assert len(rules) > 100
    for rule in rules:
        for built, append_unknown in ((rule._build, False), (rule._build_unknown, True)):
            assert built.__self__ is rule
            assert built.__func__.__code__ == compile_builder(rule, append_unknown).__code__, rule.rule


def test_a_second_app_binds_the_first_apps_builders_to_its_own_rules(app, database_url, tmp_path):
    def builders(some_app):
        return {(r.rule, r.endpoint): r._build_unknown for r in some_app.url_map.iter_rules()}

    first, second = builders(app), builders(make_app(database_url, tmp_path / "second"))
    assert first.keys() == second.keys()
    for key, built in second.items():
        assert built.__func__ is first[key].__func__ and built.__self__ is not first[key].__self__
