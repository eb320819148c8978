-- rcdm vocab remap: studies, studies mapped (protocol_concept_id not NULL and not 0), and, once the keys are
-- matched, the studies whose concept would change (@with_changes).
{DEFAULT @cdm_database_schema = cdm}
{DEFAULT @with_changes = FALSE}

SELECT COUNT(*) AS studies,
  SUM(CASE WHEN o.protocol_concept_id <> 0 THEN 1 ELSE 0 END) AS mapped
{@with_changes} ? {,
  SUM(CASE WHEN s.concept_id <> COALESCE(o.protocol_concept_id, -1) THEN 1 ELSE 0 END) AS changed}
FROM @cdm_database_schema.radiology_occurrence o
{@with_changes} ? {LEFT JOIN @cdm_database_schema.rcdm_remap_study s
  ON s.radiology_occurrence_id = o.radiology_occurrence_id};
