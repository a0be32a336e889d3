"""The shared SQL macros that stand in for slower expressions give exactly what those give."""

from __future__ import annotations

import duckdb

from focus_svc import conversion

GREEDY = "regexp_extract(id, '.*/providers/([^/]+/[^/]+)', 1)"
EDGES = [
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-1",
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-1/providers/Microsoft.Insights/x/y",
    "/providers/providers/a/b", "/providers/a/providers/c/d", "/x/providers/a", "/x/providers/a/b/providers/c",
    "/providers/providers/x", "/providers//a", "/providers/a/", "a/providers/b/c/d", "/p/providers/A.B/c\nd/e",
    "/subscriptions/s", "", "no providers here", "/PROVIDERS/a/b", "/providers/a/b/providers/",
]  # fmt: skip


def test_the_arm_provider_type_is_the_greedy_regexp_s() -> None:
    con = duckdb.connect()
    conversion.prepare(con)
    con.execute("CREATE TABLE ids (id VARCHAR)")
    con.executemany("INSERT INTO ids VALUES (?)", [[e] for e in EDGES] + [[None]])
    # Random ids of the segments that make the cases: '/providers/' once, twice, overlapping, empty parts.
    con.execute(
        """
        INSERT INTO ids
        SELECT array_to_string(list_transform(range(1 + (random() * 8)::INT),
                   lambda i: ['providers', 'a', 'B.c', '', 'x/y', 'providers/'][1 + (random() * 5)::INT]), '/')
        FROM range(50000)
        """
    )
    differ = con.execute(
        f"SELECT id, focus_arm_provider_type(id), {GREEDY} FROM ids "
        f"WHERE focus_arm_provider_type(id) IS DISTINCT FROM {GREEDY}"
    ).fetchall()
    assert differ == []
    assert con.execute(f"SELECT count(*) FROM ids WHERE {GREEDY} <> ''").fetchone()[0] > 1000  # type: ignore[index]
