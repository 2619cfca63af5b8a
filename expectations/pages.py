"""The data-docs pages' views: Great Expectations' own, compiling its page templates once.

GX makes new views for every data-docs build, each with a new Jinja environment that compiles
GX's page templates from their source again: a night builds the docs once per gate, and the
compiling was about a third of each build. The gates' site names these views instead
(``site_section_builders`` and ``site_index_builder`` in the site's configuration, set by
:mod:`expectations.runner`): the same pages, their templates' compiled code kept in memory
(Jinja's bytecode cache) for the rest of the process.

Only :mod:`expectations.runner`'s site configuration imports this module (GX instantiates
the views by name), so it imports Great Expectations itself.
"""

from __future__ import annotations

import jinja2
from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView


class _InMemory(jinja2.BytecodeCache):
    """Compiled templates by Jinja's key (the template's name and a hash of its source)."""

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self.code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


#: one cache for every view of the process: the templates and the environment's settings
#: are the same in each (the filters, bound to each view, are looked up when a page renders)
COMPILED = _InMemory()


class _CompiledOnce:
    """A view whose Jinja environment shares :data:`COMPILED`."""

    # GX hands a view only the arguments its signature names
    def __init__(self, custom_styles_directory=None, custom_views_directory=None) -> None:
        super().__init__(custom_styles_directory, custom_views_directory)
        self.env.bytecode_cache = COMPILED


class PageView(_CompiledOnce, DefaultJinjaPageView):
    """A validation result's page (GX's ``DefaultJinjaPageView``)."""


class IndexPageView(_CompiledOnce, DefaultJinjaIndexPageView):
    """The site's index (GX's ``DefaultJinjaIndexPageView``)."""
