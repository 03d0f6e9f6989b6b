"""Sphinx extension: two fixes to Jupyter Book 1.0.4's HTML that a browser reports as errors.

1. sphinx-thebe 0.3 registers its inline configuration script twice on Sphinx 7.4 (once
   from the extension registry, once on the builder), so every page declared
   ``const THEBE_JS_URL`` twice: "Identifier 'THEBE_JS_URL' has already been declared".
   Duplicate scripts are dropped from every page.
2. pydata-sphinx-theme logs "Got invalid theme mode" on a reader's first visit unless the
   page context has a ``default_mode`` (normally from ``html_context``); it is set to
   ``auto`` (the theme's own fallback, so nothing changes for the reader) unless the book
   configures it.

3. Code cells wrap long lines inside the content column (``static/hbm_book.css``) instead of
   being cut off or scrolling sideways.

All are checked by ``tests/book/test_browser.py`` (no console errors, code fits the column).
"""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"


def _fix_page(app, pagename, templatename, context, doctree) -> None:
    if not context.get("default_mode"):
        context["default_mode"] = "auto"
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, unique = set(), []
    for js in scripts:
        key = (str(getattr(js, "filename", js) or ""), getattr(js, "priority", 500),
               tuple(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    if len(unique) < len(scripts):
        context["script_files"] = unique


def _add_static(app) -> None:
    app.config.html_static_path.append(str(STATIC))


def setup(app):
    app.connect("builder-inited", _add_static)
    app.add_css_file("hbm_book.css")
    app.connect("html-page-context", _fix_page, priority=990)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
