"""Protocol mapping: LOINC/RSNA playbook, Athena vocabulary and site STCM readers, and the study matcher."""

from __future__ import annotations

from rcdm.protocols.matcher import Match, ProtocolMatcher

__all__ = ["Match", "ProtocolMatcher"]
