"""Build vocab/eval/protocol_set.tsv: labelled study descriptions for developing and evaluating the protocol
matcher, split (before any tuning) into ``dev`` and ``heldout`` rows, stratified by modality, seed 14.

Labels come from LOINC term definitions, never from the matcher: each row is written FROM a meaning (modality,
anatomy, contrast and route, laterality, views, procedure modifiers), and its label is the term of the bundled
extract (vocab/fixtures/LoincRsnaRadiologyPlaybook.csv) whose definition that meaning satisfies, by this policy:
the most specific term whose every stated attribute the description states (a term silent on contrast or views
is correct for a description that states them when the extract has no term that states them too); ``unmapped``
when the description names a defining attribute no extract term has, or names nothing to map. Defining: another
body part (skull base to mid-thigh is not whole body), angiography, guidance or intervention, perfusion, flow or
function studies, Doppler, contrast studies of an organ (cholangio-, entero-, colono-, uro-, cysto-, arthro-,
myelography), spectroscopy, specimen, bone density, post-processing only (3D), treatment planning, pregnancy,
transvaginal/transrectal approach, limited, high resolution / lung parenchyma, intraoperative, oral-only
contrast where the term says IV. Not defining (the general term stays correct): the reason (screening,
diagnostic, follow-up, post-op, call back), view types and extra views, manoeuvres (standing, inspiration/
expiration, flexion/extension), the patient (infant, pediatric), the radiopharmaceutical when no term names one.

Provenance (column ``source``):
* ``radlex-short:RPIDn``: the RadLex Playbook short name of RPIDn (RSNA; public list, as republished in
  jami-fhir-jp-wg/jp-core-v1x), labelled from the RPID's long name (its definition);
* ``written:<style>``: written here in a site style named by ``<style>`` (PACS-joined ``^``/``_`` names, vendor
  protocol names, abbreviations, other languages, the failure classes of issue 14), one meaning each;
* no row is taken from the MIDRC harmonization tables.
Run: python extras/eval/build_protocol_set.py (deterministic).
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "vocab" / "eval" / "protocol_set.tsv"
RADLEX = ROOT / "vocab" / "eval" / "radlex_short_names.tsv"
FAILURES = ROOT / "vocab" / "eval" / "failure_classes.tsv"
SEED = 14
HELDOUT_SHARE = 0.4

# term meanings of the extract: (modality, anatomy, contrast, laterality, views) -> LOINC
TERMS = {
    ("CT", "head", None): "24725-4", ("CT", "head", "WO"): "30799-1", ("CT", "head", "W"): "24727-0",
    ("CT", "head", "WWO"): "24726-2", ("CT", "chest", None): "24627-2", ("CT", "chest", "WO"): "29252-4",
    ("CT", "chest", "W"): "24628-0", ("CT", "chest", "WWO"): "30598-7", ("CT", "abdomen", None): "41806-1",
    ("CT", "abdomen", "WO"): "36424-0", ("CT", "abdomen", "WWO"): "36267-3", ("CT", "abdpel", None): "44115-4",
    ("CT", "abdpel", "WO"): "36952-0", ("CT", "abdpel", "W"): "36813-4", ("CT", "abdpel", "WWO"): "42274-1",
    ("CT", "cap", "WO"): "72253-8", ("CT", "cap", "W"): "72254-6", ("CT", "pelvis", None): "24865-8",
    ("CT", "neck", None): "36051-1", ("CT", "neck", "WO"): "36514-8", ("CT", "neck", "W"): "36235-0",
    ("CT", "cspine", None): "24932-6", ("CT", "cspine", "WO"): "30592-0", ("CT", "lspine", "WO"): "30620-9",
    ("CT", "sinuses", None): "30588-8", ("CT", "sinuses", "WO"): "36529-6", ("CT", "wholebody", None): "46305-9",
    ("MR", "head", None): "24590-2", ("MR", "head", "WO"): "30657-1", ("MR", "head", "W"): "24589-4",
    ("MR", "head", "WWO"): "24587-8", ("MR", "cspine", None): "24935-9", ("MR", "cspine", "WO"): "30667-0",
    ("MR", "lspine", None): "24968-0", ("MR", "lspine", "WO"): "30679-5", ("MR", "lspine", "WWO"): "24967-2",
    ("MR", "knee", None): "24802-1", ("MR", "knee", "WO"): "30691-0", ("MR", "abdomen", None): "24556-3",
    ("MR", "abdomen", "WWO"): "24557-1", ("MR", "pelvis", None): "24867-4", ("MR", "prostate", None): "30675-3",
    ("MR", "breast", None): "30794-2",
    ("US", "abdomen", None): "24558-9", ("US", "pelvis", None): "24869-0", ("US", "thyroid", None): "25010-0",
    ("US", "neck", None): "24842-7", ("US", "kidney", None): "38036-0", ("US", "breast", None): "24601-7",
    ("US", "retroperitoneum", None): "24531-6", ("US", "ruq", None): "24532-4",
    ("PET", "wholebody", None): "44139-4", ("PET", "head", None): "44138-6",
    ("NM", "thyroid", None): "17787-3",
}
XR_TERMS = {("chest", None): "30745-4", ("chest", "1"): "36554-4", ("chest", "2"): "36643-5",
            ("abdomen", None): "37636-8", ("abdomen", "1"): "36550-2", ("knee", None): "28565-0",
            ("cspine", None): "24946-6", ("lspine", None): "24972-2", ("pelvis", None): "28561-9",
            ("hand", None): "28582-5", ("skull", None): "28564-3"}
LATERAL = {("MR", "knee", "left"): "26257-6", ("MR", "knee", "right"): "26258-4", ("XR", "knee", "bilateral"): "36635-1",
           ("XR", "knee", "left"): "36636-9", ("XR", "knee", "right"): "37758-0", ("XR", "hand", "left"): "36630-2",
           ("XR", "hand", "right"): "37716-8", ("US", "breast", "left"): "26215-4", ("US", "breast", "right"): "26216-2",
           ("MG", "breast", None): "36625-2", ("MG", "breast", "bilateral"): "36626-0",
           ("MG", "breast", "left"): "36627-8", ("MG", "breast", "right"): "37774-7"}

MOD = {"CT": ["CT", "CT", "CT", "CT SCAN", "CAT SCAN", "MDCT", "Ct"], "MR": ["MR", "MRI", "MRI", "MR", "Mri", "MRT"],
       "XR": ["XR", "X-RAY", "XRAY", "DX", "CR", "RAD", "XR", "Radiograph"],
       "US": ["US", "ULTRASOUND", "US", "SONO", "USG", "Ultrasound"], "MG": ["MAMMO", "MG", "MAMMOGRAM", "MAMMOGRAPHY"],
       "PET": ["PET", "PET/CT", "PET-CT", "PET CT", "PETCT"], "NM": ["NM", "NUC MED", "NM", "SCINTIGRAPHY"]}
HEADER = {"CT": ["CT"], "MR": ["MR"], "XR": ["CR", "DX", "DX", "CR"], "US": ["US"], "MG": ["MG"], "PET": ["PT", "PT", "CT"],
          "NM": ["NM"]}
ANAT = {"head": ["HEAD", "BRAIN", "HEAD", "Brain", "HD", "CRANIUM"],
        "chest": ["CHEST", "THORAX", "CHEST", "Chest", "CHST", "THX", "LUNGS", "THORAX"],
        "abdomen": ["ABDOMEN", "ABD", "ABDO", "Abdomen", "ABDOM"],
        "abdpel": ["ABDOMEN PELVIS", "ABD/PELVIS", "A/P", "ABD PEL", "ABDOMEN AND PELVIS", "ABD & PELVIS",
                   "Abd/Pelv", "ABD/PEL", "ABDO PELVIS", "ABD PELVI"],
        "cap": ["CHEST ABDOMEN PELVIS", "CAP", "C/A/P", "CHEST/ABD/PELVIS", "THORAX ABDOMEN PELVIS", "CH/ABD/PEL",
                "Chest Abd Pelvis", "CHEST ABD PELVI"],
        "pelvis": ["PELVIS", "PELV", "Pelvis", "PELVI"], "neck": ["NECK", "SOFT TISSUE NECK", "Neck", "NECK SOFT TISSUE"],
        "cspine": ["C-SPINE", "C SPINE", "CERVICAL SPINE", "CSPINE", "Spine Cervical", "C-Spine"],
        "lspine": ["L-SPINE", "LUMBAR SPINE", "L SPINE", "LSPINE", "LS SPINE", "Lumbar Spine"],
        "sinuses": ["SINUSES", "SINUS", "PNS", "PARANASAL SINUSES", "Sinus"],
        "wholebody": ["WHOLE BODY", "WB", "TOTAL BODY", "Whole Body", "WHOLEBODY", "VERTEX TO TOES"],
        "knee": ["KNEE", "Knee", "KNEES"], "hand": ["HAND", "Hand"], "skull": ["SKULL", "Skull"],
        "breast": ["BREAST", "Breast", "BREASTS"], "thyroid": ["THYROID", "Thyroid", "THYROID GLAND"],
        "kidney": ["KIDNEYS", "RENAL", "KIDNEY", "Renal"], "prostate": ["PROSTATE", "Prostate"],
        "retroperitoneum": ["RETROPERITONEUM", "RETROPERITONEAL"], "ruq": ["RUQ", "RIGHT UPPER QUADRANT"]}
CON = {"WO": ["WO", "W/O", "WITHOUT CONTRAST", "NON CONTRAST", "WO CON", "C-", "NO CONTRAST", "PLAIN", "UNENHANCED",
              "NONCON", "W/O CONTRAST", "wo"],
       "W": ["W CONTRAST", "W/ CONTRAST", "WITH CONTRAST", "C+", "W IV CONTRAST", "WITH IV CONTRAST", "ENHANCED",
             "W CON", "POST CONTRAST", "w IV", "+C"],
       "WWO": ["W/WO", "W WO", "WITH AND WITHOUT", "WWO", "W+WO", "PRE AND POST", "W & W/O", "WO/W", "W/WO CONTRAST",
               "WITHOUT AND WITH CONTRAST"]}
VIEWS = {"1": ["1 VIEW", "1V", "SINGLE VIEW", "PA", "AP", "FRONTAL", "AP ONLY", "1 VW"],
         "2": ["2 VIEWS", "2V", "PA/LAT", "PA AND LATERAL", "PA & LAT", "FRONTAL AND LATERAL", "2VW", "AP/LAT", "PA LAT"],
         None: ["", "", "VIEWS", "1-2 VIEWS", "2-3 VIEWS", "MIN 3 VIEWS", "3+ VIEWS", "COMPLETE"]}
LAT = {"left": ["LEFT", "LT", "L", "Left"], "right": ["RIGHT", "RT", "R", "Right"],
       "bilateral": ["BILATERAL", "BILAT", "BIL", "BOTH"]}
NOISE = ["", "", "", "ROUTINE", "PROTOCOL", "ADULT", "STAT", "FOLLOW UP", "TRAUMA", "STANDARD"]


def styles(rng: random.Random, mod: str, anat: str, con: str, extra: str = "") -> list[tuple[str, str]]:
    """Several site-style renderings of one meaning: ``[(style, description)]``."""
    m, a, c = rng.choice(MOD[mod]), rng.choice(ANAT[anat]), con
    n = rng.choice(NOISE)
    out = [("plain", f"{m} {a} {c} {extra} {n}"), ("anatomy-first", f"{a} {m} {c} {extra}"),
           ("pacs-joined", f"{a.replace(' ', '_')}^{rng.randint(1, 9)}_ROUTINE_{c.replace(' ', '_')}{('_' + extra) if extra else ''}"),
           ("numbered", f"{rng.randint(1, 99):02d}_{m.replace(' ', '_')}_{a.replace(' ', '_')}_{c.replace(' ', '_')}"),
           ("lower", f"{m} {a} {c} {extra}".lower()), ("dotted", f"{m}.{a}.{c}".replace(" ", "."))]
    return [(s, " ".join(d.split()).strip("._^ ")) for s, d in out]


def rows() -> list[dict[str, str]]:
    rng = random.Random(SEED)
    out: list[dict[str, str]] = []

    def add(modality: str, desc: str, expected: str, source: str, fclass: str = "") -> None:
        out.append({"modality": modality, "study_description": desc, "expected": expected, "source": source,
                    "failure_class": fclass})

    # 1. every cross-sectional meaning, with and without a contrast the extract may lack
    for mod in ("CT", "MR", "US", "PET", "NM"):
        anats = sorted({a for (m, a, _c) in TERMS if m == mod})
        for anat in anats:
            for con in (None, "WO", "W", "WWO", None, "WO", "W", "WWO"):
                if mod in ("US", "PET", "NM") and con:
                    continue
                label = TERMS.get((mod, anat, con)) or TERMS.get((mod, anat, None)) or "unmapped"
                words = rng.choice(CON[con]) if con else ""
                for style, desc in styles(rng, mod, anat, words):
                    header = rng.choice(HEADER[mod])
                    if mod == "PET" and style in ("pacs-joined", "anatomy-first") and "PET" not in desc.upper():
                        header = "PT"  # a hybrid's CT header with no PET word in the text is a CT study
                    add(header, desc, label, f"written:{style}")
    # 2. radiography: views (counts, ranges, view types) and laterality
    for (anat, view), label in sorted(XR_TERMS.items(), key=str):
        for _ in range(5):
            v = rng.choice(VIEWS[view])
            for style, desc in styles(rng, "XR", anat, v)[:4]:
                add(rng.choice(HEADER["XR"]), desc, label, f"written:{style}",
                    "range" if "-" in v or "+" in v else "")
    for (mod, anat, lat), label in sorted(LATERAL.items(), key=str):
        for _ in range(3):
            words = rng.choice(LAT[lat]) if lat else ""
            if mod == "MG":
                words += " " + rng.choice(["SCREENING", "DIAGNOSTIC", "", "CC MLO", "4 VIEWS"]) if lat == "bilateral" else ""
            for style, desc in styles(rng, mod if mod != "MG" else "MG", anat, words)[:4]:
                add(rng.choice(HEADER.get(mod, ["DX"])), desc, label, f"written:{style}")
    # 3. the failure classes of issue 14, written as sites write them
    with FAILURES.open(encoding="utf-8") as fh:
        fc = [(r["header"], r["study_description"], r["expected"], r["failure_class"])
              for r in csv.DictReader((line for line in fh if not line.startswith("#")), delimiter="\t")]
    for modality, desc, label, cls in fc:
        add(modality, desc, label, "written:failure-class", cls)
        add(modality, desc.lower(), label, "written:failure-class", cls)
    # 4. procedures with no term in the extract (must stay unmapped), every modality
    negatives = {
        "CT": ["CT PERFUSION HEAD", "CT COLONOGRAPHY", "CT GUIDED LUNG BIOPSY", "CT CORONARY ANGIOGRAM", "CT SHOULDER LT",
               "CT ANKLE RT", "CT FACIAL BONES", "CT ORBITS", "CT TEMPORAL BONES", "CT ENTEROGRAPHY", "CT KNEE",
               "CTA ABDOMEN PELVIS", "CT THORACIC SPINE", "CT HIP", "CT CARDIAC", "CT WRIST"],
        "MR": ["MRA HEAD", "MRCP", "MRI SHOULDER RT", "MRI ANKLE LEFT", "MR SPECTROSCOPY", "CARDIAC MRI", "MR ENTEROGRAPHY",
               "MRI HIP", "MRI ORBITS", "MR THORACIC SPINE", "MRV BRAIN", "MR ARTHROGRAM SHOULDER", "MRI WRIST", "MRI FOOT"],
        "DX": ["XR SHOULDER 2 VIEWS", "XR FOOT 3 VIEWS", "XR ANKLE", "XR FEMUR", "BONE AGE", "SKELETAL SURVEY",
               "XR WRIST LT", "XR ELBOW", "XR THORACIC SPINE", "XR RIBS", "XR SCOLIOSIS", "XR HIP"],
        "US": ["US OB", "US DOPPLER CAROTID", "US GUIDED THYROID BIOPSY", "US SCROTUM", "US LIVER", "US TRANSVAGINAL",
               "US AORTA", "US DVT LOWER EXT", "US GALLBLADDER", "US OBSTETRIC 1ST TRIMESTER", "US SOFT TISSUE"],
        "MG": ["MAMMO STEREOTACTIC BIOPSY", "MAMMO NEEDLE LOCALIZATION", "MG SPECIMEN", "BREAST SPECIMEN XR"],
        "NM": ["NM BONE SCAN", "NM MUGA", "NM HEPATOBILIARY HIDA", "NM LUNG VQ", "NM RENAL SCAN MAG3", "NM GASTRIC EMPTYING",
               "NM MYOCARDIAL PERFUSION SPECT", "NM PARATHYROID SESTAMIBI"],
        "PT": ["PET CARDIAC", "PET MYOCARDIAL PERFUSION", "PET HEART VIABILITY"],
        "RF": ["FLUORO BARIUM SWALLOW", "UGI SERIES", "VCUG", "FL HYSTEROSALPINGOGRAM", "BARIUM ENEMA", "FLUORO LUMBAR PUNCTURE"],
        "XA": ["CARDIAC CATH", "ANGIO CEREBRAL", "IR PICC PLACEMENT", "ANGIOGRAM LOWER EXTREMITY", "IVC FILTER PLACEMENT",
               "XA EMBOLIZATION"],
    }
    for modality, descs in negatives.items():
        for d in descs:
            for style, text in (("plain", d), ("lower", d.lower()), ("pacs-joined", d.replace(" ", "_")),
                                ("noise", f"{d} {rng.choice(NOISE[3:])}")):
                add(modality, text, "unmapped", f"written:{style}", "no-term")
    # 5. RadLex Playbook short names (public), labelled from each RPID's long name (vocab/eval/radlex_short_names.tsv)
    with RADLEX.open(encoding="utf-8") as fh:
        for r in csv.DictReader((line for line in fh if not line.startswith("#")), delimiter="\t"):
            add(r["header"], r["short_name"], r["expected"], f"radlex-short:{r['rpid']}")
    for i, r in enumerate(out):
        r["id"] = f"p{i + 1:05d}"
    return out


def split(rows_: list[dict[str, str]]) -> None:
    """Mark each row dev or heldout: per DICOM modality, a seeded shuffle, the first 40% held out."""
    by_mod: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows_:
        by_mod[r["modality"]].append(r)
    rng = random.Random(SEED)
    for mod in sorted(by_mod):
        group = by_mod[mod]
        rng.shuffle(group)
        cut = round(len(group) * HELDOUT_SHARE)
        for i, r in enumerate(group):
            r["split"] = "heldout" if i < cut else "dev"


def main() -> None:
    data = rows()
    split(data)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    cols = ["id", "split", "modality", "study_description", "expected", "source", "failure_class"]
    with OUT.open("w", newline="", encoding="utf-8") as fh:
        fh.write("# Labelled study descriptions for the protocol matcher; built by extras/eval/build_protocol_set.py\n"
                 "# (provenance and labelling policy in its docstring). Split before tuning; tune on dev only.\n")
        w = csv.DictWriter(fh, cols, delimiter="\t", lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        w.writerows(data)
    print(f"{len(data)} rows -> {OUT}")


if __name__ == "__main__":
    main()
