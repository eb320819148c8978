-- OMOP CDM 5.4 vocabulary tables rcdm loads (types per OMOP_CDMv5.4_Field_Level.csv), and rcdm's playbook table.
-- OHDSI SQL: render and translate with SqlRender (R) or rcdm.sql (Python). Creating twice is not an error.
-- concept, concept_relationship and concept_ancestor live in @vocabulary_database_schema (Athena's files);
-- source_to_concept_map (the site's own mappings) and rcdm_playbook (the LOINC/RSNA Radiology Playbook, one
-- row per part of a term) live in @cdm_database_schema, beside the R-CDM tables.
-- No primary keys or indexes: the tables are replaced whole, in one transaction, by rcdm.protocols.store.
{DEFAULT @vocabulary_database_schema = cdm}
{DEFAULT @cdm_database_schema = cdm}

IF OBJECT_ID('@vocabulary_database_schema.concept', 'U') IS NULL
CREATE TABLE @vocabulary_database_schema.concept (
  concept_id INTEGER NOT NULL,
  concept_name VARCHAR(255) NOT NULL,
  domain_id VARCHAR(20) NOT NULL,
  vocabulary_id VARCHAR(20) NOT NULL,
  concept_class_id VARCHAR(20) NOT NULL,
  standard_concept VARCHAR(1) NULL,
  concept_code VARCHAR(50) NOT NULL,
  valid_start_date DATE NOT NULL,
  valid_end_date DATE NOT NULL,
  invalid_reason VARCHAR(1) NULL
);

IF OBJECT_ID('@vocabulary_database_schema.concept_relationship', 'U') IS NULL
CREATE TABLE @vocabulary_database_schema.concept_relationship (
  concept_id_1 INTEGER NOT NULL,
  concept_id_2 INTEGER NOT NULL,
  relationship_id VARCHAR(20) NOT NULL,
  valid_start_date DATE NOT NULL,
  valid_end_date DATE NOT NULL,
  invalid_reason VARCHAR(1) NULL
);

IF OBJECT_ID('@vocabulary_database_schema.concept_ancestor', 'U') IS NULL
CREATE TABLE @vocabulary_database_schema.concept_ancestor (
  ancestor_concept_id INTEGER NOT NULL,
  descendant_concept_id INTEGER NOT NULL,
  min_levels_of_separation INTEGER NOT NULL,
  max_levels_of_separation INTEGER NOT NULL
);

IF OBJECT_ID('@cdm_database_schema.source_to_concept_map', 'U') IS NULL
CREATE TABLE @cdm_database_schema.source_to_concept_map (
  source_code VARCHAR(50) NOT NULL,
  source_concept_id INTEGER NOT NULL,
  source_vocabulary_id VARCHAR(20) NOT NULL,
  source_code_description VARCHAR(255) NULL,
  target_concept_id INTEGER NOT NULL,
  target_vocabulary_id VARCHAR(20) NOT NULL,
  valid_start_date DATE NOT NULL,
  valid_end_date DATE NOT NULL,
  invalid_reason VARCHAR(1) NULL
);

IF OBJECT_ID('@cdm_database_schema.rcdm_playbook', 'U') IS NULL
CREATE TABLE @cdm_database_schema.rcdm_playbook (
  loinc_number VARCHAR(10) NOT NULL,
  long_common_name VARCHAR(512) NULL,
  rpid VARCHAR(20) NULL,
  rpid_long_name VARCHAR(512) NULL,
  part_number VARCHAR(20) NULL,
  part_type_name VARCHAR(255) NOT NULL,
  part_name VARCHAR(512) NOT NULL,
  part_sequence_order VARCHAR(10) NULL,
  rid VARCHAR(20) NULL,
  preferred_name VARCHAR(512) NULL
);
