"""Compile each URL rule's builder once per test process, not once per app.

Every test builds its own app (tests/conftest.py), and for each of the app's ~130 URL rules
werkzeug generates and compiles two small Python functions that build the rule's URLs: about
0.2–0.4 s per app, most of the per-test cost of the suite. Such a function depends only on the
rule's parts and defaults (it reads the rule's converters through its ``self`` argument when
called), so rules that are equal in those share one compiled function here. Each rule still
binds it to itself, exactly as werkzeug does; tests/unit/test_route_builders.py checks that
every rule of the app builds the same URLs as a freshly compiled builder.
"""

from werkzeug.routing.rules import Rule

compile_builder = Rule._compile_builder  # werkzeug's own, uncached
_builders = {}


def _key(rule, append_unknown):
    defaults = tuple(sorted((str(k), repr(v)) for k, v in (rule.defaults or {}).items()))
    return (
        rule.rule,
        rule.host,
        rule.subdomain,
        rule.merge_slashes,
        tuple(rule._trace),
        defaults,
        append_unknown,
    )


def _cached_compile_builder(self, append_unknown=True):
    key = _key(self, append_unknown)
    builder = _builders.get(key)
    if builder is None:
        builder = _builders[key] = compile_builder(self, append_unknown)
    return builder


def share_compiled_builders():
    Rule._compile_builder = _cached_compile_builder
