-- rcdm vocab remap, step 4: update only the studies whose protocol_concept_id changes (so a second remap
-- updates nothing), then drop the work tables. Correlated-subquery UPDATE: portable to every dialect.
{DEFAULT @cdm_database_schema = cdm}

UPDATE @cdm_database_schema.radiology_occurrence
SET protocol_concept_id = (SELECT s.concept_id FROM @cdm_database_schema.rcdm_remap_study s
    WHERE s.radiology_occurrence_id = radiology_occurrence.radiology_occurrence_id)
WHERE radiology_occurrence_id IN (
  SELECT s.radiology_occurrence_id
  FROM @cdm_database_schema.rcdm_remap_study s
  INNER JOIN @cdm_database_schema.radiology_occurrence o ON o.radiology_occurrence_id = s.radiology_occurrence_id
  WHERE s.concept_id IS NOT NULL AND s.concept_id <> COALESCE(o.protocol_concept_id, -1)
);

DROP TABLE @cdm_database_schema.rcdm_remap_study;

DROP TABLE @cdm_database_schema.rcdm_remap_key;
