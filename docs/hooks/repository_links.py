"""MkDocs hook: a link from a page to a file of the repository outside docs/ (an example, the chart, the
CHANGELOG) becomes a link to that file on the repository's host, as it reads on a Git host. A link to a
file that does not exist fails the build, as a broken link between pages does."""

import re
from pathlib import Path

from mkdocs.exceptions import PluginError

_OUTSIDE = re.compile(r"\]\((\.\./[^)#\s]+)(#[^)\s]*)?\)")


def on_page_markdown(markdown, page, config, files):
    docs = Path(config["docs_dir"])
    root = docs.parent

    def rewrite(match):
        target = (docs / Path(page.file.src_uri).parent / match.group(1)).resolve()
        if not target.exists():
            raise PluginError(f"{page.file.src_uri} links to {match.group(1)}, which does not exist")
        relative = target.relative_to(root.resolve()).as_posix()
        kind = "tree" if target.is_dir() else "blob"
        return f"]({config['repo_url']}/{kind}/main/{relative}{match.group(2) or ''})"

    return _OUTSIDE.sub(rewrite, markdown)
