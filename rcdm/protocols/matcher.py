"""Map an imaging study to a LOINC/RSNA playbook term and its OMOP concept, deterministically and explainably.

Order of precedence: a site mapping (source_to_concept_map) for the study's description, protocol name or
procedure code always wins; otherwise the automatic matcher scores every playbook term of the study's
modality on anatomy, contrast and its route, laterality, views, radiopharmaceutical and qualifiers (weights
and threshold read from ``vocab/rules/scoring.tsv``), and maps only when the best term is confident and
unambiguous. Below the threshold the study stays unmapped (concept 0) with the reason, because a wrong map is
worse than none.

Tie-break policy: a term must be supported by the study in everything it states (anatomy, contrast, route,
laterality, views, strict qualifiers); among the supported terms the higher score wins, where an attribute the
study states and the term matches scores more than a term silent on it; at equal score the most general term
(fewest stated attributes) wins; two terms equal on both stay unmapped as ambiguous. A term whose anatomy is
only an ancestor of the study's (``anatomy_hierarchy.tsv``: CT Chest for "CT lungs") scores less than an exact
one, so it is used only when no exact term exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rcdm.errors import UsageError
from rcdm.protocols import playbook as pb
from rcdm.protocols.athena import loinc_concept_index
from rcdm.protocols.loinc_table import load_loinc_table, merge_terms
from rcdm.protocols.normalize import Normalizer, fold, read_tsv
from rcdm.protocols.source_value import PROTOCOL_VOCABULARY, protocol_code
from rcdm.protocols.stcm import SiteMapping, read_stcm, source_key
from rcdm.protocols.vocab_data import rules_dir as default_rules

CONTRAST_CLASSES = ("W", "WO", "WWO")
_STUDY_KEYS = ("modality", "body_part", "study_description", "series_descriptions", "protocol_name", "laterality",
               "contrast", "view", "procedure_code", "protocol_source_value")


@dataclass(frozen=True)
class Match:
    """The result of matching one study."""

    loinc: str | None
    rpid: str | None
    concept_id: int
    confidence: float
    score_breakdown: dict[str, float]
    reason: str
    source: str = "auto"  # "site" (STCM), "auto" (matcher) or "none"
    long_common_name: str | None = None


@dataclass
class Features:
    """What was recognised in a study or a term."""

    modality: str | None = None
    text_modalities: set[str] = field(default_factory=set)
    anatomy: frozenset[str] = frozenset()
    region: frozenset[str] = frozenset()
    anatomy_source: str = ""
    contrast: str | None = None
    contrast_note: str = ""
    route: str | None = None
    agents: frozenset[str] = frozenset()
    modality_note: str = ""
    negated: list[str] = field(default_factory=list)
    laterality: str | None = None
    view: str | None = None
    view_types: frozenset[str] = frozenset()
    qualifiers: dict[str, bool] = field(default_factory=dict)  # qualifier -> strict
    unknown: list[str] = field(default_factory=list)
    text: str = ""


@dataclass
class _Term:
    term: pb.PlaybookTerm
    features: Features


@dataclass
class _Scored:
    term: _Term
    score: float
    breakdown: dict[str, float]
    rejected: str | None


class _Rules:
    """The rules in ``vocab/rules`` compiled into a normaliser and a phrase lexicon."""

    def __init__(self, rules_dir: Path):
        self.dir = rules_dir
        self.normalizer = Normalizer.from_file(rules_dir / "synonyms.tsv")
        self.lexicon: dict[tuple[str, ...], list[tuple[str, str]]] = {}
        self.modality_dicom: dict[str, str] = {}
        self.modality_playbook: dict[str, str] = {}
        self.strict_qualifier: dict[str, bool] = {}
        for r in read_tsv(rules_dir / "modalities.tsv", ("value", "modality", "source")):
            src = r["source"].lower()
            if src == "dicom":
                self.modality_dicom[r["value"].upper()] = r["modality"]
            elif src == "playbook":
                self.modality_playbook[fold(r["value"])] = r["modality"]
            elif src == "text":
                self._add(r["value"], "modality", r["modality"])
            else:
                raise UsageError(f"{rules_dir / 'modalities.tsv'}: line {r['_line']}: source must be dicom, "
                                 f"text or playbook, not {r['source']!r}")
        for r in read_tsv(rules_dir / "body_parts.tsv", ("phrase", "anatomy")):
            self._add(r["phrase"], "anatomy", r["anatomy"])
        for r in read_tsv(rules_dir / "contrast.tsv", ("phrase", "contrast")):
            if r["contrast"] not in CONTRAST_CLASSES:
                raise UsageError(f"{rules_dir / 'contrast.tsv'}: line {r['_line']}: contrast must be one of "
                                 f"{', '.join(CONTRAST_CLASSES)}")
            self._add(r["phrase"], "contrast", r["contrast"])
        for r in read_tsv(rules_dir / "laterality.tsv", ("phrase", "laterality")):
            self._add(r["phrase"], "laterality", r["laterality"])
        for r in read_tsv(rules_dir / "views.tsv", ("phrase", "view")):
            self._add(r["phrase"], "view", r["view"])
        for r in read_tsv(rules_dir / "view_types.tsv", ("phrase", "view_type")):
            self._add(r["phrase"], "view_type", r["view_type"])
        for r in read_tsv(rules_dir / "qualifiers.tsv", ("phrase", "qualifier", "strict")):
            self._add(r["phrase"], "qualifier", r["qualifier"])
            self.strict_qualifier[r["qualifier"]] = r["strict"] not in ("0", "no", "false", "")
        for r in read_tsv(rules_dir / "stopwords.tsv", ("word",)):
            self._add(r["word"], "stop", "")
        for r in read_tsv(rules_dir / "negations.tsv", ("phrase",)):
            self._add(r["phrase"], "negation", "")
        for r in read_tsv(rules_dir / "routes.tsv", ("phrase", "route")):
            self._add(r["phrase"], "route", r["route"])
        for r in read_tsv(rules_dir / "radiopharmaceuticals.tsv", ("phrase", "agent")):
            self._add(r["phrase"], "agent", r["agent"])
        self.parents: dict[str, str] = {}
        for r in read_tsv(rules_dir / "anatomy_hierarchy.tsv", ("child", "parent")):
            self.parents[r["child"]] = r["parent"]
        self.hybrids: dict[tuple[str, str], str] = {}
        for r in read_tsv(rules_dir / "modality_hybrids.tsv", ("header", "text", "modality")):
            self.hybrids[(r["header"].upper(), r["text"].upper())] = r["modality"].upper()
        self.implied: dict[tuple[str, str], tuple[str, str]] = {}
        for r in read_tsv(rules_dir / "implications.tsv", ("modality", "qualifier", "contrast", "route")):
            self.implied[(r["modality"].upper(), r["qualifier"])] = (r["contrast"], r["route"])
        self.max_phrase = max((len(k) for k in self.lexicon), default=1)
        self.weights: dict[str, float] = {}
        for r in read_tsv(rules_dir / "scoring.tsv", ("name", "value")):
            try:
                self.weights[r["name"]] = float(r["value"])
            except ValueError:
                raise UsageError(f"{rules_dir / 'scoring.tsv'}: line {r['_line']}: {r['value']!r} is not a "
                                 "number") from None
        needed = ("modality", "anatomy", "contrast", "contrast_generic", "laterality", "laterality_generic",
                  "view", "view_generic", "soft_qualifier_penalty", "unknown_token_penalty",
                  "unknown_token_penalty_max", "body_part_only_penalty", "threshold",
                  "ambiguity_margin", "route", "route_generic", "anatomy_ancestor_penalty")
        missing = [n for n in needed if n not in self.weights]
        if missing:
            raise UsageError(f"{rules_dir / 'scoring.tsv'}: missing setting(s) {', '.join(missing)}")

    def _add(self, phrase: str, kind: str, value: str) -> None:
        key = tuple(self.normalizer.tokens(phrase))
        if key:
            entries = self.lexicon.setdefault(key, [])
            if (kind, value) not in entries:
                entries.append((kind, value))

    def ancestors(self, key: str) -> list[str]:
        """The anatomy keys that contain ``key``, nearest first (``lung`` → ``[chest]``)."""
        out: list[str] = []
        while key in self.parents and self.parents[key] not in out:
            key = self.parents[key]
            out.append(key)
        return out

    def scan(self, text: str | None) -> tuple[list[tuple[str, str]], list[str], str]:
        """Greedy longest-phrase scan: ``([(kind, value)], unknown_tokens, normalised_text)``.

        A negation word (``negations.tsv``) applies to the next contrast or qualifier phrase within two
        tokens: a negated qualifier becomes ``("negated", qualifier)``, a negated W becomes WO."""
        tokens = self.normalizer.tokens(text)
        hits: list[tuple[str, str]] = []
        unknown: list[str] = []
        negate_until = -1
        i, n = 0, len(tokens)
        while i < n:
            for size in range(min(self.max_phrase, n - i), 0, -1):
                entries = self.lexicon.get(tuple(tokens[i:i + size]))
                if entries:
                    kinds = {k for k, _ in entries}
                    if "negation" in kinds:
                        negate_until = i + size + 2
                    elif i < negate_until and kinds & {"qualifier", "contrast"}:
                        for k, v in entries:
                            if k == "qualifier":
                                hits.append(("negated", v))
                            elif k == "contrast":
                                hits.append((k, "WO"))
                            elif k not in ("stop",):
                                hits.append((k, v))
                        negate_until = -1
                    else:
                        hits.extend(entries)
                    i += size
                    break
            else:
                if not tokens[i].isdigit():
                    unknown.append(tokens[i])
                i += 1
        return hits, unknown, " ".join(tokens)


def _combine_contrast(values: Iterable[str]) -> str | None:
    vals = set(values)
    if not vals:
        return None
    if "WWO" in vals or {"W", "WO"} <= vals:
        return "WWO"
    return next(iter(vals))


def _split_plus(values: Iterable[str]) -> set[str]:
    return {p.strip() for v in values for p in v.split("+") if p.strip()}


def _anatomy(hits: list[tuple[str, str]]) -> set[str]:
    out: set[str] = set()
    for kind, value in hits:
        if kind == "anatomy":
            out.update(v.strip() for v in value.split("+") if v.strip())
    return out


def _runner_up(cands: list[_Scored]) -> str:
    """One line: the second candidate and why it lost to the first (score difference, rejection or tie-break)."""
    if len(cands) < 2:
        return "runner-up: none (no other candidate term)"
    best, second = cands[0], cands[1]
    name = f"{second.term.term.loinc} {second.term.term.long_common_name}"
    if second.rejected:
        return f"runner-up: {name} lost: rejected, {second.rejected}"
    if best.rejected:
        return f"runner-up: {name}: every candidate was rejected"
    diffs = [f"{k} {best.breakdown.get(k, 0) - second.breakdown.get(k, 0):+g}"
             for k in sorted(set(best.breakdown) | set(second.breakdown))
             if best.breakdown.get(k, 0) != second.breakdown.get(k, 0)]
    if best.score > second.score:
        return f"runner-up: {name} lost by {best.score - second.score:g} ({', '.join(diffs)})"
    return (f"runner-up: {name} ties at {second.score:g}; tie-break: "
            + ("the more general term wins" if _specificity(best.term.features) < _specificity(second.term.features)
               else "equally general, so the study stays unmapped as ambiguous"))


def _specificity(f: Features) -> int:
    """How many attributes a term states; at equal score the term stating fewest (the most general) wins."""
    return (len(f.anatomy) + len(f.qualifiers) + len(f.agents) + len(f.view_types)
            + sum(v is not None for v in (f.contrast, f.route, f.laterality, f.view)))


class ProtocolMatcher:
    """Match studies to playbook terms; see the module docstring for the precedence and scoring."""

    def __init__(self, terms: dict[str, pb.PlaybookTerm], loinc_concepts: dict[str, dict[str, Any]],
                 site_mappings: Iterable[SiteMapping], rules_dir: Path, cache_size: int = 1_000_000):
        self.rules = _Rules(Path(rules_dir))
        self.w = self.rules.weights
        self.concepts = loinc_concepts
        self.concept_by_id = {int(r["concept_id"]): r for r in loinc_concepts.values()}
        self.site: dict[str, SiteMapping] = {}
        self.site_protocol: dict[str, SiteMapping] = {}
        """RCDM_PROTOCOL rows, keyed on the protocol source value only (never on a bare description)."""
        for m in site_mappings:
            if m.is_valid() and m.source_vocabulary_id == PROTOCOL_VOCABULARY:
                self.site_protocol.setdefault(source_key(m.source_code), m)
                if m.source_code_description:
                    self.site_protocol.setdefault(source_key(m.source_code_description), m)
            elif m.is_valid():
                self.site.setdefault(source_key(m.source_code), m)
                if m.source_code_description:
                    self.site.setdefault(source_key(m.source_code_description), m)
        self.terms: list[_Term] = [_Term(t, self._term_features(t)) for _, t in sorted(terms.items())]
        self.index: dict[tuple[str, str], list[_Term]] = {}
        for t in self.terms:
            if t.features.modality:
                for key in t.features.anatomy:
                    self.index.setdefault((t.features.modality, key), []).append(t)
        self._cache: dict[tuple, Match] = {}
        self._raw_cache: dict[tuple, Match] = {}
        self._cache_size = cache_size

    @classmethod
    def from_files(cls, playbook: str | Path | None = None, concepts: str | Path | None = None,
                   stcm: str | Path | None = None, rules_dir: str | Path | None = None,
                   loinc_table: str | Path | None = None, part_links: Iterable[str | Path] = ()) -> ProtocolMatcher:
        """Build a matcher from a playbook CSV and/or LOINC's ``Loinc.csv`` (+ ``LoincPartLink_*.csv``; the
        playbook's term wins where both have one), an Athena CONCEPT file and a site STCM file (optional)."""
        if playbook is None and loinc_table is None:
            raise UsageError("Give a playbook (LoincRsnaRadiologyPlaybook.csv) or LOINC's Loinc.csv, or both")
        terms = merge_terms(pb.load_playbook(playbook) if playbook else {},
                            load_loinc_table(loinc_table, part_links) if loinc_table else {})
        loinc = loinc_concept_index(concepts) if concepts else {}
        site = list(read_stcm(stcm)) if stcm else []
        return cls(terms, loinc, site, Path(rules_dir) if rules_dir else default_rules())

    @classmethod
    def from_data(cls, terms: dict[str, pb.PlaybookTerm], concepts: Iterable[dict[str, Any]] = (),
                  site_mappings: Iterable[SiteMapping] = (), rules_dir: str | Path | None = None) -> ProtocolMatcher:
        """Build a matcher from parsed terms, CONCEPT rows (any vocabulary; LOINC ones are used, standard
        concepts winning, as ``athena.loinc_concept_index`` does) and site mappings, e.g. read from a database."""
        loinc: dict[str, dict[str, Any]] = {}
        for row in concepts:
            if row.get("vocabulary_id") != "LOINC" or row.get("invalid_reason"):
                continue
            code = str(row["concept_code"])
            prev = loinc.get(code)
            if prev is None or (row.get("standard_concept") == "S" and prev.get("standard_concept") != "S"):
                loinc[code] = row
        return cls(terms, loinc, list(site_mappings), Path(rules_dir) if rules_dir else default_rules())

    # --- features ------------------------------------------------------------------------------------

    def _names_to_anatomy(self, names: list[str]) -> set[str]:
        out: set[str] = set()
        for name in names:
            hits, _, norm = self.rules.scan(name)
            found = _anatomy(hits)
            out.update(found or {norm})
        return out

    def _term_features(self, t: pb.PlaybookTerm) -> Features:
        f = Features(text=t.long_common_name)
        mods = t.values(pb.MODALITY_TYPE)
        if mods:
            f.modality = self.rules.modality_playbook.get(fold(mods[0]), mods[0].upper())
        focus = self._names_to_anatomy(t.values(pb.IMAGING_FOCUS))
        region = self._names_to_anatomy(t.values(pb.REGION_IMAGED))
        f.anatomy = frozenset(focus or region)
        f.region = frozenset(region)
        timing = {fold(v) for v in t.values(pb.TIMING)}
        agents: set[str] = set()
        contrast_given = False
        for name in t.values(pb.SUBSTANCE):  # a radiopharmaceutical is an agent, never contrast
            found = {v for k, v in self.rules.scan(name)[0] if k == "agent"}
            agents |= found
            contrast_given = contrast_given or not (found or f.modality in ("NM", "PET"))
        f.agents = frozenset(agents)
        if {"w", "wo"} <= timing:
            f.contrast = "WWO"
        elif "wo" in timing:
            f.contrast = "WO"
        elif "w" in timing or contrast_given:
            f.contrast = "W"
        if f.contrast in ("W", "WWO"):
            for name in t.values(pb.ROUTE):
                f.route = next((v for k, v in self.rules.scan(name)[0] if k == "route"), fold(name)) or None
        for name in t.values(pb.LATERALITY):
            hits, _, norm = self.rules.scan(name)
            f.laterality = next((v for k, v in hits if k == "laterality"), norm)
        for name in t.values(pb.VIEW_AGGREGATION):
            hits, _, norm = self.rules.scan(name)
            view = next((v for k, v in hits if k == "view"), norm)
            f.view = view or None
        f.view_types = frozenset(vt for name in t.values(pb.VIEW_TYPE)
                                 for vt in (_split_plus(v for k, v in self.rules.scan(name)[0] if k == "view_type")
                                            or {fold(name)}))
        qual_names = (t.values(pb.MODALITY_SUBTYPE) + t.values(pb.REASON) + t.values(pb.MANEUVER)
                      + t.values(pb.SUBJECT) + t.types_starting(pb.GUIDANCE_PREFIX))
        for name in qual_names:
            hits, _, norm = self.rules.scan(name)
            quals = [v for k, v in hits if k == "qualifier"]
            for q in quals or [norm]:
                f.qualifiers[q] = self.rules.strict_qualifier.get(q, True)
        return f

    def study_features(self, study: dict[str, Any]) -> Features:
        """Recognise modality, anatomy, contrast, laterality, views and qualifiers in a study's attributes."""
        r = self.rules
        f = Features()
        primary_text = " ; ".join(str(study.get(k) or "") for k in ("study_description", "protocol_name"))
        hits, unknown, norm = r.scan(primary_text)
        f.text, f.unknown = norm, unknown
        series_hits: list[list[tuple[str, str]]] = [r.scan(s)[0] for s in study.get("series_descriptions") or []]
        modality = str(study.get("modality") or "").strip().upper()
        f.modality = r.modality_dicom.get(modality) if modality else None
        f.text_modalities = {v for k, v in hits if k == "modality"}
        if not modality and len(f.text_modalities) == 1:
            f.modality = next(iter(f.text_modalities))
        elif f.modality and f.text_modalities and f.modality not in f.text_modalities:
            hybrid = {r.hybrids[(f.modality, t)] for t in f.text_modalities if (f.modality, t) in r.hybrids}
            if len(hybrid) == 1:
                chosen = next(iter(hybrid))
                f.modality_note = (f"header {f.modality}, text {'/'.join(sorted(f.text_modalities))}: "
                                   f"{chosen} (hybrid acquisition, modality_hybrids.tsv)")
                f.modality, f.text_modalities = chosen, {chosen}
        anatomy = _anatomy(hits)
        f.anatomy_source = "description"
        if not anatomy:
            anatomy = set().union(*(_anatomy(h) for h in series_hits)) if series_hits else set()
            f.anatomy_source = "series"
        if not anatomy and study.get("body_part"):
            anatomy = _anatomy(r.scan(str(study["body_part"]))[0])
            f.anatomy_source = "body_part"
        f.anatomy = frozenset(anatomy)
        # contrast: description first, then series, checked against the study's contrast attribute
        text_contrast = _combine_contrast(v for k, v in hits if k == "contrast")
        if text_contrast is None and series_hits:
            text_contrast = _combine_contrast(v for h in series_hits for k, v in h if k == "contrast")
        field_contrast = {"pre": "WO", "post": "W"}.get(str(study.get("contrast") or "").lower())
        f.contrast = text_contrast
        f.negated = sorted({v for k, v in hits if k == "negated"})
        f.agents = frozenset(v for k, v in hits if k == "agent")
        routes = {v for k, v in hits if k == "route"}
        f.route = next(iter(routes)) if len(routes) == 1 else None
        if f.contrast not in ("W", "WWO"):
            f.route = None  # a route word without contrast given (NM "oral" therapy, "no IV") says nothing
        if field_contrast and text_contrast is None:
            f.contrast = field_contrast
        elif field_contrast and text_contrast and field_contrast != text_contrast and text_contrast != "WWO":
            f.contrast, f.contrast_note = None, f"conflict: text says {text_contrast}, attribute says {field_contrast}"
        lats = {v for k, v in hits if k == "laterality"}
        field_lat = {"l": "left", "r": "right", "b": "bilateral", "left": "left", "right": "right",
                     "bilateral": "bilateral"}.get(str(study.get("laterality") or "").strip().lower())
        if field_lat:
            lats.add(field_lat)
        f.laterality = next(iter(lats)) if len(lats) == 1 else ("conflict" if lats else None)
        views = {v for k, v in hits if k == "view" and v}
        if study.get("view"):
            views |= {v for k, v in r.scan(str(study["view"]))[0] if k == "view" and v}
        f.view = next(iter(views)) if len(views) == 1 else ("conflict" if views else None)
        f.view_types = frozenset(_split_plus(v for k, v in hits if k == "view_type"))
        for k, v in hits:
            if k == "qualifier":
                f.qualifiers[v] = r.strict_qualifier.get(v, True)
        if f.contrast is None and not f.contrast_note:
            for q in sorted(f.qualifiers):
                implied = r.implied.get((f.modality or "", q))
                if implied:
                    f.contrast, f.route = implied[0], implied[1] or f.route
                    f.contrast_note = ""
                    f.modality_note = (f.modality_note + "; " if f.modality_note else "") + \
                        f"contrast {implied[0]} implied by {q} (implications.tsv)"
                    break
        return f

    # --- scoring -------------------------------------------------------------------------------------

    def _score(self, s: Features, t: _Term) -> _Scored:
        w, tf = self.w, t.features
        b: dict[str, float] = {}
        if s.modality != tf.modality:
            return _Scored(t, 0.0, b, f"modality {tf.modality} is not the study's {s.modality}")
        if s.text_modalities and s.modality not in s.text_modalities:
            return _Scored(t, 0.0, b, f"description names {'/'.join(sorted(s.text_modalities))}, "
                                      f"DICOM modality is {s.modality}")
        b["modality"] = w["modality"]
        if s.contrast_note:
            return _Scored(t, 0.0, b, f"contrast evidence conflicts ({s.contrast_note})")
        if s.laterality == "conflict" or s.view == "conflict":
            return _Scored(t, 0.0, b, "laterality or view evidence conflicts")
        study_up = {a: set(self.rules.ancestors(a)) for a in s.anatomy}
        via_ancestor = {k for k in tf.anatomy - s.anatomy if any(k in up for up in study_up.values())}
        if not tf.anatomy <= s.anatomy | via_ancestor:
            return _Scored(t, 0.0, b, f"term anatomy {sorted(tf.anatomy)} not in study {sorted(s.anatomy)}")
        covered = tf.anatomy | tf.region
        extra = {a for a in s.anatomy - covered if not study_up[a] & covered}
        if extra:
            return _Scored(t, 0.0, b, f"study anatomy {sorted(extra)} not covered by the term")
        b["anatomy"] = w["anatomy"]
        if via_ancestor:
            b[f"anatomy via {'/'.join(sorted(via_ancestor))}"] = -w["anatomy_ancestor_penalty"]
        if s.anatomy_source == "body_part":
            b["anatomy_from_body_part_only"] = -w["body_part_only_penalty"]
        # contrast
        if tf.contrast is None:
            if s.contrast is None:
                b["contrast"] = w["contrast"]
            else:
                b["contrast(generic term)"] = w["contrast_generic"]
        elif s.contrast is None:
            return _Scored(t, 0.0, b, f"term is contrast {tf.contrast}, study contrast unknown")
        elif s.contrast != tf.contrast:
            return _Scored(t, 0.0, b, f"term is contrast {tf.contrast}, study is {s.contrast}")
        else:
            b["contrast"] = w["contrast"]
        if tf.route and s.route and tf.route != s.route:
            return _Scored(t, 0.0, b, f"term contrast route {tf.route}, study {s.route}")
        if tf.route or s.route:
            b["route" if tf.route == s.route else "route(generic)"] = w["route" if tf.route == s.route
                                                                         else "route_generic"]
        if tf.agents and s.agents and not tf.agents & s.agents:
            return _Scored(t, 0.0, b, f"term radiopharmaceutical {sorted(tf.agents)}, study {sorted(s.agents)}")
        if tf.agents ^ s.agents and not (tf.agents & s.agents):
            b["radiopharmaceutical(one side only)"] = -w["soft_qualifier_penalty"]
        # laterality, views: a term without one fits any study (at the generic weight); else they must agree
        for attr, label in (("laterality", "laterality"), ("view", "views")):
            term_value, study_value = getattr(tf, attr), getattr(s, attr)
            if term_value is None:
                generic = study_value is not None
                b[f"{attr}(generic term)" if generic else attr] = w[f"{attr}_generic" if generic else attr]
            elif study_value != term_value:
                return _Scored(t, 0.0, b, f"term {label} {term_value}, study {study_value or 'unknown'}")
            else:
                b[attr] = w[attr]
        if not tf.view_types <= s.view_types:
            return _Scored(t, 0.0, b, f"term view types {sorted(tf.view_types)} not all named by the study")
        # qualifiers: strict ones must agree both ways; soft ones cost a penalty
        for q in sorted(set(tf.qualifiers) | set(s.qualifiers)):
            if q in tf.qualifiers and q in s.qualifiers:
                continue
            strict = tf.qualifiers.get(q, s.qualifiers.get(q, True))
            where = "term" if q in tf.qualifiers else "study"
            if strict:
                return _Scored(t, 0.0, b, f"qualifier {q!r} only in the {where}")
            b[f"qualifier {q}({where} only)"] = -w["soft_qualifier_penalty"]
        if s.unknown:
            b["unknown words"] = -min(w["unknown_token_penalty"] * len(s.unknown), w["unknown_token_penalty_max"])
        return _Scored(t, sum(b.values()), b, None)

    def _candidates(self, s: Features) -> list[_Scored]:
        seen: dict[str, _Term] = {}
        for key in sorted(s.anatomy | {up for a in s.anatomy for up in self.rules.ancestors(a)}):
            for t in self.index.get((s.modality or "", key), ()):
                seen.setdefault(t.term.loinc, t)
        scored = [self._score(s, t) for _, t in sorted(seen.items())]
        scored.sort(key=lambda c: (c.rejected is not None, -round(c.score, 6), _specificity(c.term.features),
                                   c.term.term.loinc))
        return scored

    # --- public API ----------------------------------------------------------------------------------

    def _concept(self, loinc: str) -> tuple[int, str]:
        row = self.concepts.get(loinc)
        if row is None:
            return 0, "LOINC found, no OMOP concept in the vocabulary"
        return int(row["concept_id"]), ""

    def _site(self, study: dict[str, Any]) -> Match | None:
        psv = study.get("protocol_source_value")
        for key in ("protocol_source_value", "procedure_code", "study_description", "protocol_name"):
            if key == "protocol_source_value":
                m = (self.site_protocol.get(source_key(protocol_code(psv))) or self.site_protocol.get(source_key(psv))
                     if psv else None)
            else:
                m = self.site.get(source_key(study.get(key)))
            if m is None or not study.get(key):
                continue
            row = self.concept_by_id.get(m.target_concept_id)
            loinc = str(row["concept_code"]) if row else None
            term = next((t.term for t in self.terms if t.term.loinc == loinc), None) if loinc else None
            why = (f"site mapping ({key} {study.get(key)!r} → {m.target_concept_id})" if m.target_concept_id
                   else f"site mapping says unmapped ({key} {study.get(key)!r})")
            return Match(loinc, (term.rpid or None) if term else None, m.target_concept_id, 1.0,
                         {"site_mapping": 1.0}, why, "site", term.long_common_name if term else None)
        return None

    def _key(self, study: dict[str, Any]) -> tuple:
        n = self.rules.normalizer.normalize
        return (str(study.get("modality") or "").upper(), n(study.get("body_part")), n(study.get("study_description")),
                tuple(n(s) for s in study.get("series_descriptions") or ()), n(study.get("protocol_name")),
                str(study.get("laterality") or "").lower(), str(study.get("contrast") or "").lower(),
                n(study.get("view")), source_key(study.get("procedure_code")),
                source_key(study.get("study_description")), source_key(study.get("protocol_name")),
                source_key(study.get("protocol_source_value")))

    def match(self, study: dict[str, Any]) -> Match:
        """Map one study (plain dict of DICOM-derived attributes) to a Match; memoised on its normalised key."""
        raw = tuple(tuple(v) if isinstance(v, list) else v for v in (study.get(k) for k in _STUDY_KEYS))
        hit = self._raw_cache.get(raw)
        if hit is not None:
            return hit
        key = self._key(study)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._site(study) or self._auto(study)[0]
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[key] = hit
        if len(self._raw_cache) >= self._cache_size:
            self._raw_cache.clear()
        self._raw_cache[raw] = hit
        return hit

    def _auto(self, study: dict[str, Any]) -> tuple[Match, Features, list[_Scored]]:
        s = self.study_features(study)
        none = lambda why: Match(None, None, 0, 0.0, {}, why, "none")  # noqa: E731
        if not s.modality:
            return none("no modality recognised"), s, []
        if not s.anatomy:
            return none("no anatomy recognised in the description, series or body part"), s, []
        cands = self._candidates(s)
        ok = [c for c in cands if c.rejected is None]
        if not ok:
            why = cands[0].rejected if cands else f"no {s.modality} playbook term for {sorted(s.anatomy)}"
            return none(f"no acceptable term: {why}"), s, cands
        best = ok[0]
        conf = round(min(1.0, max(0.0, best.score) / 100.0), 4)
        t = best.term.term
        if len(ok) > 1 and best.score - ok[1].score <= self.w["ambiguity_margin"] and not (
                _specificity(best.term.features) < _specificity(ok[1].term.features)):
            return Match(None, None, 0, conf, best.breakdown,
                         f"ambiguous: {t.loinc} and {ok[1].term.term.loinc} score within "
                         f"{self.w['ambiguity_margin']:g}", "none"), s, cands
        if conf < self.w["threshold"]:
            return Match(None, None, 0, conf, best.breakdown,
                         f"best term {t.loinc} ({t.long_common_name}) below threshold "
                         f"{self.w['threshold']:g}", "none"), s, cands
        concept_id, note = self._concept(t.loinc)
        why = f"matched {t.loinc} {t.long_common_name}" + (f"; {note}" if note else "")
        return Match(t.loinc, t.rpid or None, concept_id, conf, best.breakdown, why, "auto",
                     t.long_common_name), s, cands

    def explain(self, study: dict[str, Any] | str, top: int = 5) -> str:
        """A readable account of what was recognised and how the top candidate terms scored."""
        if isinstance(study, str):
            study = {"study_description": study}
        site = self._site(study)
        m, s, cands = self._auto(study)
        lines = [f"study: {study}",
                 f"normalised: {s.text!r}",
                 f"recognised: modality={s.modality} anatomy={sorted(s.anatomy)} ({s.anatomy_source}) "
                 f"contrast={s.contrast}{' [' + s.contrast_note + ']' if s.contrast_note else ''} "
                 f"route={s.route} laterality={s.laterality} view={s.view} view_types={sorted(s.view_types)} "
                 f"qualifiers={sorted(s.qualifiers)} "
                 f"radiopharmaceutical={sorted(s.agents)} negated={s.negated} unknown={s.unknown}"]
        if s.modality_note:
            lines.append(f"note: {s.modality_note}")
        if site:
            lines.append(f"SITE MAPPING WINS: concept {site.concept_id} ({site.reason})")
        lines.append(f"result: loinc={m.loinc} concept_id={m.concept_id} confidence={m.confidence:.2f} "
                     f"reason: {m.reason}")
        lines.append(_runner_up(cands))
        if cands:
            rows = [("rank", "loinc", "term", "score", "why")]
            for i, c in enumerate(cands[:top], start=1):
                why = c.rejected and f"rejected: {c.rejected}" or ", ".join(
                    f"{k} {v:+g}" for k, v in c.breakdown.items())
                rows.append((str(i), c.term.term.loinc, c.term.term.long_common_name,
                             "-" if c.rejected else f"{c.score:g}", why))
            widths = [max(len(r[i]) for r in rows) for i in range(4)]
            for r in rows:
                lines.append("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4])
        return "\n".join(lines)
