"""PREMIS 3 preservation records: the chain of custody from the scanner glass to the archive.

PREMIS.xml (package level) describes the intellectual entity and the package-level events;
PREMIS_rep1.xml describes every data file (fixity equal to the METS CHECKSUM) and every page/document
event. Agents are named "<type>:<name>" ("software:sohoa 0.1.0", "person:thu.nguyen", "device:…").
"""

from __future__ import annotations

import uuid
from typing import Any

from lxml import etree

from protocol.metadata import nfc
from protocol.package.model import NS_PREMIS, NS_SOHOA, NS_XSI, PremisEvent

P = f"{{{NS_PREMIS}}}"
NSMAP = {"premis": NS_PREMIS, "xsi": NS_XSI, "sohoa": NS_SOHOA}


def new_id(prefix: str = "uuid-") -> str:
    return f"{prefix}{str(uuid.uuid4()).upper()}"


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, P + tag)
    if text is not None:
        el.text = nfc(str(text))
    return el


def _object(root: etree._Element, xsi_type: str, identifiers: list[tuple[str, str]]) -> etree._Element:
    obj = _sub(root, "object")
    obj.set(f"{{{NS_XSI}}}type", f"premis:{xsi_type}")
    for kind, value in identifiers:
        ident = _sub(obj, "objectIdentifier")
        _sub(ident, "objectIdentifierType", kind)
        _sub(ident, "objectIdentifierValue", value)
    return obj


def _agent_parts(agent: str) -> tuple[str, str]:
    kind, sep, name = agent.partition(":")
    if sep and kind in {"software", "person", "device", "organization", "hardware"}:
        return kind, name
    return "other", agent


def _event(root: etree._Element, event: PremisEvent) -> None:
    ev = _sub(root, "event")
    ident = _sub(ev, "eventIdentifier")
    _sub(ident, "eventIdentifierType", "UUID")
    _sub(ident, "eventIdentifierValue", event.event_id or new_id())
    _sub(ev, "eventType", event.event_type)
    _sub(ev, "eventDateTime", event.at)
    if event.detail or event.extra:
        info = _sub(ev, "eventDetailInformation")
        if event.detail:
            _sub(info, "eventDetail", event.detail)
        if event.extra:
            ext = _sub(info, "eventDetailExtension")
            for key, value in sorted(event.extra.items()):
                param = etree.SubElement(ext, f"{{{NS_SOHOA}}}param", name=str(key))
                param.text = nfc(str(value))
    outcome = _sub(ev, "eventOutcomeInformation")
    _sub(outcome, "eventOutcome", event.outcome)
    if event.agent:
        link = _sub(ev, "linkingAgentIdentifier")
        _sub(link, "linkingAgentIdentifierType", "local")
        _sub(link, "linkingAgentIdentifierValue", event.agent)
        _sub(
            link,
            "linkingAgentRole",
            "executing program" if event.agent.startswith("software:") else "implementer",
        )
    for ref in event.objects:
        link = _sub(ev, "linkingObjectIdentifier")
        _sub(link, "linkingObjectIdentifierType", "page" if ref.startswith("page:") else "docId")
        _sub(link, "linkingObjectIdentifierValue", ref)
        _sub(link, "linkingObjectRole", "source" if ref.startswith("page:") else "outcome")


def _agents(root: etree._Element, events: list[PremisEvent]) -> None:
    seen: list[str] = []
    for event in events:
        if event.agent and event.agent not in seen:
            seen.append(event.agent)
    for name in seen:
        kind, label = _agent_parts(name)
        ag = _sub(root, "agent")
        ident = _sub(ag, "agentIdentifier")
        _sub(ident, "agentIdentifierType", "local")
        _sub(ident, "agentIdentifierValue", name)
        _sub(ag, "agentName", label)
        _sub(ag, "agentType", kind)


def _tostring(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# A new version of a stored hồ sơ (rework) names the version it replaces: PREMIS relationship "derivation /
# has source" on the intellectual entity, the related object identified by the stored package's SHA-256
# (what the archive's store and ledger key each version by) and by "<OBJID> v<n>".
PREVIOUS_TYPE, PREVIOUS_SUBTYPE = "derivation", "has source"


def package_premis(
    *, objid: str, file_code: str, events: list[PremisEvent], previous: dict[str, Any] | None = None
) -> bytes:
    """PREMIS.xml: the hồ sơ as an intellectual entity, its representation, package-level events.
    `previous` ({"sha256", "version"}) links a new version to the stored one it replaces."""
    root = etree.Element(P + "premis", nsmap=NSMAP, version="3.0")
    entity = _object(root, "intellectualEntity", [("OBJID", objid), ("fileCode", file_code)])
    if previous:
        rel = _sub(entity, "relationship")
        _sub(rel, "relationshipType", PREVIOUS_TYPE)
        _sub(rel, "relationshipSubType", PREVIOUS_SUBTYPE)
        for kind, value in (("SHA-256", previous["sha256"]), ("version", f"{objid} v{previous['version']}")):
            ident = _sub(rel, "relatedObjectIdentifier")
            _sub(ident, "relatedObjectIdentifierType", kind)
            _sub(ident, "relatedObjectIdentifierValue", value)
    _object(root, "representation", [("local", "rep1")])
    for event in events:
        _event(root, event)
    _agents(root, events)
    return _tostring(root)


def representation_premis(*, files: list[dict[str, Any]], events: list[PremisEvent]) -> bytes:
    """PREMIS_rep1.xml: one file object per data file (path, docId, SHA-256, size), then the events.

    `files` items: {"path": "data/….pdf", "doc_id": …, "sha256": …, "size": …, "format_version": …}.
    """
    root = etree.Element(P + "premis", nsmap=NSMAP, version="3.0")
    for item in files:
        obj = _object(root, "file", [("local", item["path"]), ("docId", item["doc_id"])])
        chars = _sub(obj, "objectCharacteristics")
        _sub(chars, "compositionLevel", "0")
        fixity = _sub(chars, "fixity")
        _sub(fixity, "messageDigestAlgorithm", "SHA-256")
        _sub(fixity, "messageDigest", item["sha256"])
        _sub(fixity, "messageDigestOriginator", "sohoa")
        _sub(chars, "size", str(item["size"]))
        fmt = _sub(_sub(chars, "format"), "formatDesignation")
        _sub(fmt, "formatName", "application/pdf")
        _sub(fmt, "formatVersion", item.get("format_version", "PDF/A-2b"))
        _sub(obj, "originalName", item["path"].rsplit("/", 1)[-1])
    for event in events:
        _event(root, event)
    _agents(root, events)
    return _tostring(root)


def parse_premis(data: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(objects, events) of a PREMIS document as plain dicts (for readers and checks)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.fromstring(data, parser)
    ns = {"p": NS_PREMIS, "s": NS_SOHOA}
    objects = []
    for obj in root.findall("p:object", ns):
        ids = [
            (i.findtext("p:objectIdentifierType", "", ns), i.findtext("p:objectIdentifierValue", "", ns))
            for i in obj.findall("p:objectIdentifier", ns)
        ]
        objects.append(
            {
                "type": (obj.get(f"{{{NS_XSI}}}type") or "").split(":")[-1],
                "identifiers": ids,
                "sha256": obj.findtext("p:objectCharacteristics/p:fixity/p:messageDigest", "", ns),
                "size": obj.findtext("p:objectCharacteristics/p:size", "", ns),
                "relationships": [
                    {
                        "type": rel.findtext("p:relationshipType", "", ns),
                        "subtype": rel.findtext("p:relationshipSubType", "", ns),
                        "related": [
                            (r.findtext("p:relatedObjectIdentifierType", "", ns),
                             r.findtext("p:relatedObjectIdentifierValue", "", ns))
                            for r in rel.findall("p:relatedObjectIdentifier", ns)
                        ],
                    }
                    for rel in obj.findall("p:relationship", ns)
                ],
            }
        )
    events = []
    for ev in root.findall("p:event", ns):
        events.append(
            {
                "id": ev.findtext("p:eventIdentifier/p:eventIdentifierValue", "", ns),
                "type": ev.findtext("p:eventType", "", ns),
                "at": ev.findtext("p:eventDateTime", "", ns),
                "detail": ev.findtext("p:eventDetailInformation/p:eventDetail", "", ns),
                "outcome": ev.findtext("p:eventOutcomeInformation/p:eventOutcome", "", ns),
                "agents": [
                    a.findtext("p:linkingAgentIdentifierValue", "", ns)
                    for a in ev.findall("p:linkingAgentIdentifier", ns)
                ],
                "objects": [
                    o.findtext("p:linkingObjectIdentifierValue", "", ns)
                    for o in ev.findall("p:linkingObjectIdentifier", ns)
                ],
                "extra": {
                    p.get("name"): p.text or ""
                    for p in ev.findall("p:eventDetailInformation/p:eventDetailExtension/s:param", ns)
                },
            }
        )
    return objects, events


def previous_version(objects: list[dict[str, Any]]) -> str | None:
    """The SHA-256 of the stored version a package says it replaces (see package_premis), or None."""
    for obj in objects:
        if obj.get("type") != "intellectualEntity":
            continue
        for rel in obj.get("relationships", []):
            if (rel["type"], rel["subtype"]) == (PREVIOUS_TYPE, PREVIOUS_SUBTYPE):
                for kind, value in rel["related"]:
                    if kind == "SHA-256":
                        return str(value).upper()
    return None
