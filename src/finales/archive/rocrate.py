"""``ro-crate-metadata.json``: the dataset described as an RO-Crate 1.1.

Written by hand, by the RO-Crate 1.1 specification (a flat JSON-LD ``@graph``: the metadata
descriptor, the root ``Dataset``, one ``File`` per data file, the people, organisations and
licence), rather than with the ``rocrate`` library, because

* the file must be byte-for-byte the same for the same data (its MD5 decides whether a run
  uploads it): the library stamps the current time and generated ids into what it writes;
* the archiver runs from a tenant install (``pip install finales[archive]``): a fifty-line
  function is lighter than the library and its dependencies;
* the library still reads the crate back in the tests, as the check that it conforms.

Per-file MD5 checksums use an ad hoc term (``md5``, ``urn:finales:vocab#md5``) declared in
the crate's own context, as the specification asks for terms outside schema.org.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from finales.archive.config import ArchiveConfig, Creator
from finales.archive.dataset import DataFile, dumps

METADATA_KEY = "ro-crate-metadata.json"
RO_CRATE = "https://w3id.org/ro/crate/1.1"
CONTEXT = [RO_CRATE + "/context", {"md5": "urn:finales:vocab#md5"}]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def _licence_iri(licence: str) -> str:
    return f"https://spdx.org/licenses/{licence.upper()}"


def _people(creators: Iterable[Creator]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    people: list[dict[str, Any]] = []
    orgs: dict[str, dict[str, Any]] = {}
    for c in creators:
        affiliations = []
        for a in c.affiliations:
            oid = f"https://ror.org/{a.ror}" if a.ror else f"#org-{_slug(a.name)}"
            orgs.setdefault(oid, {"@id": oid, "@type": "Organization", "name": a.name})
            affiliations.append({"@id": oid})
        name = f"{c.given_name} {c.family_name}".strip()
        pid = f"https://orcid.org/{c.orcid}" if c.orcid else f"#person-{_slug(name)}"
        person: dict[str, Any] = {
            "@id": pid,
            "@type": "Person",
            "name": name,
            "familyName": c.family_name,
        }
        if c.given_name:
            person["givenName"] = c.given_name
        if affiliations:
            person["affiliation"] = affiliations
        people.append(person)
    return people, list(orgs.values())


def crate_metadata(
    files: Iterable[DataFile], config: ArchiveConfig, *, date: str | None
) -> DataFile:
    """The crate's metadata file for ``files``; ``date`` (the newest data, ISO 8601) is the
    dataset's ``datePublished``, so the file depends on the data only."""
    record = config.record
    files = sorted(files, key=lambda f: f.key)
    people, orgs = _people(record.creators)
    licence = _licence_iri(record.license)
    root: dict[str, Any] = {
        "@id": "./",
        "@type": "Dataset",
        "name": record.title,
        "description": record.description,
        "identifier": config.identifier,
        "license": {"@id": licence},
        "author": [{"@id": p["@id"]} for p in people],
        "publisher": {"@id": "#publisher"},
        "hasPart": [{"@id": f.key} for f in files],
    }
    if date:
        root["datePublished"] = date[:10]
    if record.keywords:
        root["keywords"] = ", ".join(record.keywords)
    graph: list[dict[str, Any]] = [
        {
            "@id": METADATA_KEY,
            "@type": "CreativeWork",
            "conformsTo": {"@id": RO_CRATE},
            "about": {"@id": "./"},
        },
        root,
        *(
            {
                "@id": f.key,
                "@type": "File",
                "name": f.key,
                "description": f.description,
                "encodingFormat": f.media_type,
                "contentSize": str(f.size),
                "md5": f.md5,
            }
            for f in files
        ),
        *people,
        *orgs,
        {"@id": "#publisher", "@type": "Organization", "name": record.publisher},
        {"@id": licence, "@type": "CreativeWork", "name": record.license.upper()},
    ]
    text = dumps({"@context": CONTEXT, "@graph": graph})
    return DataFile(
        METADATA_KEY,
        (text + "\n").encode("utf-8"),
        "application/ld+json",
        "RO-Crate 1.1 metadata: the dataset, its files with MD5 checksums, authors, licence.",
    )
