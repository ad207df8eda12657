"""The docs' generated parts: every results file gets its section, the tables follow the code,
and a bad marker stops the build. The build itself runs in tests/run.sh (mkdocs --strict)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
sys.path.insert(0, str(DOCS))

import gen_benchmarks  # noqa: E402
import gen_reference  # noqa: E402

FALLBACK = "no longer has the layout"


def test_every_committed_results_file_gets_its_own_table():
    files = [p for p in gen_benchmarks.RESULTS.glob("*.json") if ".partial" not in p.name]
    page = gen_benchmarks.page()
    assert files, "benchmarks/results/ holds results"
    for p in files:
        title = gen_benchmarks.TITLES.get(p.stem, p.stem.replace("_", " ").capitalize())
        assert f"## {title}\n" in page, p.name
    assert FALLBACK not in page, "a renderer no longer reads its results file's layout"


def test_absent_results_are_skipped_and_a_changed_layout_falls_back(tmp_path):
    assert gen_benchmarks.page(tmp_path) == ""
    (tmp_path / "convert_time.json").write_text(json.dumps({"rows": [{"target": "x"}]}))
    (tmp_path / "new_bench.json").write_text(json.dumps({"goal": "g", "rows": [{"a": 1}]}))
    page = gen_benchmarks.page(tmp_path)
    assert "## Convert time" in page and FALLBACK in page and "| target |" in page
    assert "## New bench" in page and "| a |\n|---|\n| 1 |" in page


def test_the_formats_table_has_every_format_and_its_precisions():
    from edgekit import formats

    table = gen_reference.formats_table()
    for f in formats.FORMATS.values():
        row = next(line for line in table.splitlines() if line.startswith(f"| `{f.name}` |"))
        for p in f.precisions:
            assert f"`{p}`" in row, (f.name, p)
            assert (f"`{p}`\\*" in row) == (p in f.calibrated), (f.name, p)


def test_api_reference_covers_all_public_names():
    import edgekit

    text = gen_reference.api_reference()
    for name in edgekit.__all__:
        assert f'heading: "edgekit.{name}"' in text, name
    assert "::: edgekit.device.profiles.get" in text  # edgekit.profile, the function


def test_setup_commands_are_the_readmes_first_block():
    block = gen_reference.setup_commands()
    assert "requirements/no-deps.txt" in block and "bash tests/run.sh" in block


def test_a_bad_marker_stops_the_build():
    pytest.importorskip("mkdocs")
    import hooks
    from mkdocs.exceptions import PluginError

    page = SimpleNamespace(file=SimpleNamespace(src_uri="x.md"))
    ok = hooks.on_page_markdown(
        "a\n<!-- edgekit:recipes -->\nnote\n<!-- /edgekit:recipes -->\n", page, None, None
    )
    assert "| `all` |" in ok and "note" not in ok
    for bad in ("<!-- edgekit:nope -->\n<!-- /edgekit:nope -->\n", "<!-- edgekit:recipes -->\n"):
        with pytest.raises(PluginError):
            hooks.on_page_markdown(bad, page, None, None)


def test_every_module_of_edgekit_has_a_floor():
    """A new top-level module or package must be placed in `.importlinter` (and so in the
    layout page, generated from it)."""
    from pathlib import Path

    import edgekit

    root = Path(edgekit.__file__).parent
    names = {p.stem for p in root.glob("*.py") if p.stem not in ("__init__", "__main__")}
    names |= {p.parent.name for p in root.glob("*/__init__.py")}
    table = gen_reference.floors_table()
    missing = sorted(n for n in names if f"`{n}`" not in table)
    assert missing == []
