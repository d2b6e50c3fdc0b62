"""The house (docs/ARCHITECTURE.md): data flows ddpmss <- listening_tests <- app, no import circle, no test
code in the product, small modules."""

from __future__ import annotations

from tests.support.imports import PACKAGES, cycle, import_graph, imported, product_modules

MAX_LINES = 500


def test_cycle_finder_finds_a_circle() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_product_modules_import_no_circle() -> None:
    graph = import_graph(product_modules())
    assert {"ddpmss.pipelines", "listening_tests.storage.store", "app.services"} <= set(graph)
    assert cycle(graph) == []


def test_data_flows_one_way_and_the_product_imports_no_test_code() -> None:
    for name, path in product_modules().items():
        allowed = PACKAGES[: PACKAGES.index(name.split(".")[0]) + 1]
        wrong = {
            m for m in imported(path) if m.split(".")[0] in (*PACKAGES, "tests") and m.split(".")[0] not in allowed
        }
        assert not wrong, f"{name} imports {sorted(wrong)}"


def test_no_product_module_is_over_500_lines() -> None:
    too_long = {n: len(p.read_text().splitlines()) for n, p in product_modules().items()}
    assert {n: k for n, k in too_long.items() if k > MAX_LINES} == {}
