"""MkDocs hooks: fill the generated parts of the pages, and put every page in the nav.

A page marks a generated part with the lines `<!-- edgekit:NAME -->` and
`<!-- /edgekit:NAME -->`, each alone on its line. What is between them (a note for readers of
the raw file on GitHub) is replaced on every build by the generator NAME of
`gen_reference.py` or `gen_benchmarks.py`. An unknown or unclosed marker fails the build.

A page in docs/ that mkdocs.yml's nav does not list is appended to the nav, so adding a page is
adding a file; list it in mkdocs.yml to give it its place.
"""

from __future__ import annotations

import re

import gen_benchmarks
import gen_reference
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

GENERATORS = {**gen_reference.GENERATORS, "benchmarks": gen_benchmarks.page}
# markers stand alone on their lines, so a page can quote one in running text
BLOCK = re.compile(r"^<!-- edgekit:([\w-]+) -->$.*?^<!-- /edgekit:\1 -->$", re.S | re.M)
MARKER = re.compile(r"^<!-- /?edgekit:.*$", re.M)


def on_page_markdown(markdown: str, page, config, files) -> str:
    def fill(match: re.Match) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise PluginError(
                f"{page.file.src_uri}: unknown generated part; got: {name}; "
                f"known: {', '.join(GENERATORS)}"
            )
        return GENERATORS[name]()

    out = BLOCK.sub(fill, markdown)
    stray = MARKER.search(out)
    if stray:
        raise PluginError(
            f"{page.file.src_uri}: a generated-part marker without its pair; "
            f"got: {stray.group(0)}; write <!-- edgekit:NAME --> ... "
            "<!-- /edgekit:NAME -->"
        )
    return out


def on_files(files, config):
    """Append unlisted pages to the nav; add the results' images for the benchmarks page."""
    listed = set(_nav_paths(config["nav"] or []))
    for f in sorted(files.documentation_pages(), key=lambda f: f.src_uri):
        if f.src_uri not in listed:
            config["nav"].append(f.src_uri)
    for png in sorted(gen_benchmarks.RESULTS.glob("*.png")):
        files.append(File.generated(config, f"results/{png.name}", abs_src_path=str(png)))
    return files


def _nav_paths(nav):
    for item in nav:
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            for value in item.values():
                yield from _nav_paths(value if isinstance(value, list) else [value])
