-- rcdm vocab remap, step 3 (after rcdm_remap_key is bulk-loaded with one concept per key): give each study
-- its key's concept. Correlated-subquery UPDATE: portable to every dialect.
{DEFAULT @cdm_database_schema = cdm}

UPDATE @cdm_database_schema.rcdm_remap_study
SET concept_id = (SELECT k.concept_id FROM @cdm_database_schema.rcdm_remap_key k
    WHERE k.protocol_source_value = rcdm_remap_study.protocol_source_value
      AND k.contrast = rcdm_remap_study.contrast
      AND k.laterality = rcdm_remap_study.laterality);
