-- The valid LOINC concepts the protocol matcher needs: the playbook's terms (and, when the site has a
-- source_to_concept_map, its mappings' targets), looked up by concept_code in the OMOP vocabulary.
-- Used by rcdm.protocols.store.matcher_from_database; the playbook is small, so only its codes are read.
{DEFAULT @cdm_database_schema = cdm}
{DEFAULT @vocabulary_database_schema = cdm}
{DEFAULT @has_stcm = FALSE}

SELECT c.concept_id, c.concept_name, c.vocabulary_id, c.standard_concept, c.concept_code, c.invalid_reason
FROM @vocabulary_database_schema.concept c
WHERE c.vocabulary_id = 'LOINC'
  AND c.invalid_reason IS NULL
  AND (c.concept_code IN (SELECT p.loinc_number FROM @cdm_database_schema.rcdm_playbook p)
{@has_stcm} ? {    OR c.concept_id IN (SELECT m.target_concept_id FROM @cdm_database_schema.source_to_concept_map m)}
  );
