"""IRIs of the movie KB: one per (kind, name), readable, injective and reversible.

>>> movie_iri("film", "$9.99")
'http://kgsearch.org/movies/film/$9.99'
>>> movie_iri("person", "Gert Fröbe")
'http://kgsearch.org/movies/person/Gert_Fröbe'
>>> parse_movie_iri(movie_iri("tag", "50% off_sale"))
('tag', '50% off_sale')
"""

from __future__ import annotations

from urllib.parse import unquote

from kg.errors import DatasetError
from kg.namespaces import MOVIES, MOVIES_DATA

#: Kind of entity -> its class in the ontology. The kind is also the IRI path segment.
KINDS: dict[str, str] = {kind: str(MOVIES[kind.title()]) for kind in ("film", "person", "genre", "language", "tag")}

# ASCII kept as is in a slug: RFC 3987 ipchar minus "_" (it stands for a space) and
# "%" (it starts an escape), which keeps the mapping injective and reversible.
_SAFE_ASCII = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.~!$&'()*+,;=:@")
# Non-ASCII that RFC 3987 allows but that is invisible or reorders text (section 4.1
# bidi controls, spaces, joiners, BOM). Fixed code points rather than unicodedata
# categories, so that a new Python's Unicode tables cannot change a slug.
_INVISIBLE = frozenset(
    [0xA0, 0xAD, 0x1680, 0x180E, 0x3000, 0xFEFF, *range(0x2000, 0x2010), *range(0x2028, 0x2030), *range(0x205F, 0x2070)]
)


def _is_ucschar(cp: int) -> bool:
    """RFC 3987 ``ucschar``: the non-ASCII code points an IRI may hold unescaped."""
    if 0xA0 <= cp <= 0xD7FF or 0xF900 <= cp <= 0xFDCF or 0xFDF0 <= cp <= 0xFFEF:
        return True
    return 0x10000 <= cp <= 0xEFFFD and (cp & 0xFFFF) <= 0xFFFD and not 0xE0000 <= cp <= 0xE0FFF


def _escape(ch: str) -> str:
    return "".join(f"%{b:02X}" for b in ch.encode("utf-8"))


def slug(name: str) -> str:
    """Turn a MetaQA name into one IRI path segment, injectively and reversibly.

    Spaces become ``_``; ``_`` and ``%`` themselves, and every character an IRI
    path segment cannot hold (``/ ? # [ ] < > " ^ ` { | } \\``, controls,
    invisible characters), are percent-encoded as UTF-8. Letters of any script
    stay readable. A trailing ``.`` is encoded too: linkifiers drop it and
    rdflib 7 cannot read Turtle names ending in an escaped dot.

    >>> slug("Tatia Rosenthal"), slug("50/50"), slug("The Man_Who Knew"), slug("Zoë.")
    ('Tatia_Rosenthal', '50%2F50', 'The_Man%5FWho_Knew', 'Zoë%2E')

    Raises:
        DatasetError: The name is empty.
    """
    if not name:
        raise DatasetError("an entity name must not be empty")
    out = []
    for ch in name:
        cp = ord(ch)
        if ch == " ":
            out.append("_")
        elif ch in _SAFE_ASCII or (cp > 0x7F and _is_ucschar(cp) and cp not in _INVISIBLE):
            out.append(ch)
        else:
            out.append(_escape(ch))
    if set(out) == {"."}:
        # "." and ".." would be dot segments that IRI resolution removes.
        return "%2E" * len(out)
    if out[-1] == ".":
        out[-1] = "%2E"
    return "".join(out)


def unslug(segment: str) -> str:
    """Invert :func:`slug`.

    >>> unslug("The_Man%5FWho_Knew")
    'The Man_Who Knew'
    """
    # Literal "_" only ever comes from a space; an original "_" is "%5F".
    return unquote(segment.replace("_", " "), errors="strict")


def movie_iri(kind: str, name: str) -> str:
    """Return the IRI of the entity of this kind with this exact MetaQA name.

    Args:
        kind: One of ``film``, ``person``, ``genre``, ``language``, ``tag``.
        name: The MetaQA name, case-sensitive.

    Raises:
        DatasetError: Unknown kind or empty name.
    """
    if kind not in KINDS:
        raise DatasetError(f"unknown kind of movie entity {kind!r}; expected one of {', '.join(KINDS)}")
    return f"{MOVIES_DATA}{kind}/{slug(name)}"


def parse_movie_iri(iri: str) -> tuple[str, str]:
    """Return ``(kind, name)`` of an IRI minted by :func:`movie_iri`.

    Raises:
        DatasetError: The IRI is not a movie entity IRI.
    """
    kind, _, segment = iri.removeprefix(MOVIES_DATA).partition("/")
    try:
        if iri.startswith(MOVIES_DATA) and kind in KINDS and segment and "/" not in segment:
            return kind, unslug(segment)
    except UnicodeDecodeError:
        pass
    raise DatasetError(f"{iri!r} is not a movie entity IRI ({MOVIES_DATA}<kind>/<name>)")
