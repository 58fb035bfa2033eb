"""What the login checks read from a certificate's extensions, read from the DER directly.

A signature certificate (署名用) carries the holder's name, date of birth, gender and address in
its subjectAltName. Decoding the extensions through a general X.509 library would turn those
values into objects in the hub's memory. This reader walks the to-be-signed certificate and
looks only at what the hub decides on: the certificate-policy identifiers, whether the
certificate is a CA, and the *type* identifiers of subjectAltName otherName entries. The value
of an otherName is skipped by its length and never decoded.
"""

from __future__ import annotations

from dataclasses import dataclass

_SEQUENCE = 0x30
_OID = 0x06
_BOOLEAN = 0x01
_OCTET_STRING = 0x04
_EXTENSIONS = 0xA3  # [3] EXPLICIT Extensions in TBSCertificate
_OTHER_NAME = 0xA0  # [0] otherName in GeneralName

CERTIFICATE_POLICIES = "2.5.29.32"
SUBJECT_ALT_NAME = "2.5.29.17"
BASIC_CONSTRAINTS = "2.5.29.19"


@dataclass(frozen=True)
class ExtensionView:
    """The parts of a certificate's extensions the login checks look at."""

    policies: frozenset[str]
    other_name_types: frozenset[str]  # type-ids only; the values are never read
    is_ca: bool
    extension_ids: tuple[str, ...]


@dataclass(frozen=True)
class _Element:
    tag: int
    start: int  # first content byte
    end: int


def _element(data: bytes, offset: int, limit: int) -> _Element:
    if offset + 2 > limit:
        raise ValueError("truncated DER")
    tag, length = data[offset], data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or start + count > limit:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    if start + length > limit:
        raise ValueError("DER element runs past its parent")
    return _Element(tag, start, start + length)


def _children(data: bytes, parent: _Element) -> list[_Element]:
    found, offset = [], parent.start
    while offset < parent.end:
        child = _element(data, offset, parent.end)
        found.append(child)
        offset = child.end
    return found


def _expect(element: _Element, tag: int) -> _Element:
    if element.tag != tag:
        raise ValueError(f"expected DER tag {tag:#x}, found {element.tag:#x}")
    return element


def decode_oid(content: bytes) -> str:
    if not content or content[-1] & 0x80:
        raise ValueError("malformed object identifier")
    arcs, value = [], 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in (first, arcs[0] - 40 * first, *arcs[1:]))


def _oid(data: bytes, element: _Element) -> str:
    return decode_oid(data[_expect(element, _OID).start : element.end])


def _policies(data: bytes, value: _Element) -> set[str]:
    policies = _expect(_element(data, value.start, value.end), _SEQUENCE)
    found = set()
    for information in _children(data, policies):
        identifier = _children(data, _expect(information, _SEQUENCE))[0]
        found.add(_oid(data, identifier))
    return found


def _other_name_types(data: bytes, value: _Element) -> set[str]:
    names = _expect(_element(data, value.start, value.end), _SEQUENCE)
    found = set()
    for name in _children(data, names):
        if name.tag == _OTHER_NAME:
            type_id = _element(data, name.start, name.end)  # the value after it is skipped
            found.add(_oid(data, type_id))
    return found


def _is_ca(data: bytes, value: _Element) -> bool:
    constraints = _expect(_element(data, value.start, value.end), _SEQUENCE)
    fields = _children(data, constraints)
    return bool(fields) and fields[0].tag == _BOOLEAN and data[fields[0].start] != 0


def read_extensions(tbs_certificate: bytes) -> ExtensionView:
    """Policies, CA flag and otherName type-ids of a DER TBSCertificate (ValueError: malformed)."""
    tbs = _expect(_element(tbs_certificate, 0, len(tbs_certificate)), _SEQUENCE)
    policies: set[str] = set()
    other_names: set[str] = set()
    is_ca = False
    ids: list[str] = []
    wrapper = next((e for e in _children(tbs_certificate, tbs) if e.tag == _EXTENSIONS), None)
    if wrapper is not None:
        extensions = _expect(_element(tbs_certificate, wrapper.start, wrapper.end), _SEQUENCE)
        for extension in _children(tbs_certificate, extensions):
            parts = _children(tbs_certificate, _expect(extension, _SEQUENCE))
            extension_id = _oid(tbs_certificate, parts[0])
            value = _expect(parts[-1], _OCTET_STRING)
            ids.append(extension_id)
            if extension_id == CERTIFICATE_POLICIES:
                policies |= _policies(tbs_certificate, value)
            elif extension_id == SUBJECT_ALT_NAME:
                other_names |= _other_name_types(tbs_certificate, value)
            elif extension_id == BASIC_CONSTRAINTS:
                is_ca = _is_ca(tbs_certificate, value)
    return ExtensionView(frozenset(policies), frozenset(other_names), is_ca, tuple(ids))
