"""The :class:`Linker` protocol shared by the text, image and speech linkers.

>>> from linking.types import Document
>>> class Nothing:
...     def link(self, document):
...         return []
>>> isinstance(Nothing(), Linker), Nothing().link(Document("d", text="hello"))
(True, [])
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from linking.types import Document, Link


@runtime_checkable
class Linker(Protocol):
    """Finds mentions in a document and grounds them to KB entities.

    A linker predicts; it never mutates the document or writes anywhere: the caller
    (the indexer) decides what to store.
    """

    def link(self, document: Document) -> list[Link]:
        """Return the document's links, ordered by position, each with a score in [0, 1] and its method."""
        ...
