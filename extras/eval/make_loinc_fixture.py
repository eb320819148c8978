"""Write vocab/fixtures/Loinc.csv and LoincPartLink_Supplementary.csv: the playbook fixture's terms in the
format of LOINC's own release files (for tests of rcdm.protocols.loinc_table).

Each term's axes are written from its playbook parts following LOINC's radiology naming model (METHOD_TYP =
modality[.subtype], SYSTEM = Region[>Focus][+Region...][.laterality], COMPONENT = view aggregation or
"Multisection", then "^" timing/substance/route). Only the three terms copied from HAPI FHIR's LOINC sample
(real part numbers) get part-link rows. Two rows test filtering: a chemistry term (CLASS CHEM) and a
deprecated radiology term. Run: python extras/eval/make_loinc_fixture.py
"""

from __future__ import annotations

import csv
from pathlib import Path

from rcdm.protocols import playbook as pb

FIX = Path(__file__).resolve().parents[2] / "vocab" / "fixtures"
HEADER = ["LOINC_NUM", "COMPONENT", "PROPERTY", "TIME_ASPCT", "SYSTEM", "SCALE_TYP", "METHOD_TYP", "CLASS",
          "VersionLastChanged", "CHNG_TYPE", "DefinitionDescription", "STATUS", "CONSUMER_NAME", "CLASSTYPE",
          "FORMULA", "EXMPL_ANSWERS", "SURVEY_QUEST_TEXT", "SURVEY_QUEST_SRC", "UNITSREQUIRED", "RELATEDNAMES2",
          "SHORTNAME", "ORDER_OBS", "HL7_FIELD_SUBFIELD_ID", "EXTERNAL_COPYRIGHT_NOTICE", "EXAMPLE_UNITS",
          "LONG_COMMON_NAME", "EXAMPLE_UCUM_UNITS", "STATUS_REASON", "STATUS_TEXT", "CHANGE_REASON_PUBLIC",
          "COMMON_TEST_RANK", "COMMON_ORDER_RANK", "HL7_ATTACHMENT_STRUCTURE", "EXTERNAL_COPYRIGHT_LINK",
          "PanelType", "AskAtOrderEntry", "AssociatedObservations", "VersionFirstReleased",
          "ValidHL7AttachmentRequest", "DisplayName"]
LINKED = ("17787-3", "24531-6", "24532-4")


def axes(t: pb.PlaybookTerm) -> dict[str, str]:
    mod = t.values(pb.MODALITY_TYPE)[0]
    method = {"PET": "PT"}.get(mod, mod)
    sub = t.values(pb.MODALITY_SUBTYPE)
    if sub:
        method += "." + sub[0].lower()
    regions, focus = t.values(pb.REGION_IMAGED), t.values(pb.IMAGING_FOCUS)
    if focus and len(regions) == 1:
        system = f"{regions[0]}>{focus[0]}"
    else:
        system = "+".join(regions) or "XXX"
    lat = t.values(pb.LATERALITY)
    if lat:
        system += "." + lat[0].lower()
    view = t.values(pb.VIEW_AGGREGATION)
    component = view[0] if view else "Multisection"
    guidance = t.types_starting(pb.GUIDANCE_PREFIX)
    if guidance:
        component = "Guidance for " + guidance[0]
    timing = t.values(pb.TIMING)
    if timing:
        seg = " & ".join(timing) + " contrast"
        if "W" in timing:
            seg += " " + " ".join(t.values(pb.ROUTE))
        component += "^" + seg.strip()
    return {"COMPONENT": component, "SYSTEM": system, "METHOD_TYP": method}


def main() -> None:
    terms = pb.load_playbook(FIX / "LoincRsnaRadiologyPlaybook.csv")
    rows = []
    for code, t in sorted(terms.items()):
        row = dict.fromkeys(HEADER, "")
        row.update(axes(t), LOINC_NUM=code, PROPERTY="Find", TIME_ASPCT="Pt", SCALE_TYP="Doc", CLASS="RAD",
                   STATUS="ACTIVE", CLASSTYPE="2", ORDER_OBS="Both", LONG_COMMON_NAME=t.long_common_name,
                   DisplayName=t.long_common_name)
        rows.append(row)
    extra = [("2345-7", "Glucose", "Ser/Plas", "", "CHEM", "ACTIVE", "Glucose [Mass/volume] in Serum or Plasma"),
             ("24610-8", "Views", "Pelvis", "XR", "RAD", "DEPRECATED", "XR Pelvis Views (deprecated fixture row)")]
    for code, comp, system, method, klass, status, name in extra:
        row = dict.fromkeys(HEADER, "")
        row.update(LOINC_NUM=code, COMPONENT=comp, SYSTEM=system, METHOD_TYP=method, CLASS=klass, STATUS=status,
                   LONG_COMMON_NAME=name, PROPERTY="Find", TIME_ASPCT="Pt", SCALE_TYP="Doc")
        rows.append(row)
    with (FIX / "Loinc.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, HEADER, quoting=csv.QUOTE_ALL, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    with (FIX / "LoincPartLink_Supplementary.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL, lineterminator="\n")
        w.writerow(["LoincNumber", "LongCommonName", "PartNumber", "PartName", "PartCodeSystem", "PartTypeName",
                    "LinkTypeName", "Property"])
        for code in LINKED:
            t = terms[code]
            for _type_name, parts in sorted(t.parts.items()):
                for p in parts:
                    if p.part_number:
                        prop = "http://loinc.org/property/" + p.type_name.lower().replace(".", "-").replace(" ", "-")
                        w.writerow([code, t.long_common_name, p.part_number, p.name, "http://loinc.org",
                                    p.type_name, "SecondaryRadiology", prop])


if __name__ == "__main__":
    main()
