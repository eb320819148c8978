-- OHDSI Medical Imaging CDM (MI-CDM) tables, per the MI-CDM field-level specification.
-- image_study_uid and image_series_uid hold keyed hashes of the DICOM UIDs (rcdm never stores real UIDs).
{DEFAULT @cdm_database_schema = cdm}

--HINT DISTRIBUTE_ON_KEY(person_id)
IF OBJECT_ID('@cdm_database_schema.image_occurrence', 'U') IS NULL
CREATE TABLE @cdm_database_schema.image_occurrence (
  image_occurrence_id BIGINT NOT NULL,
  person_id BIGINT NOT NULL,
  visit_occurrence_id BIGINT NULL,
  procedure_occurrence_id BIGINT NOT NULL,
  wadors_uri VARCHAR(MAX) NULL,
  local_path VARCHAR(MAX) NULL,
  image_occurrence_date DATE NOT NULL,
  image_study_uid VARCHAR(250) NOT NULL,
  image_series_uid VARCHAR(250) NOT NULL,
  modality_concept_id INTEGER NOT NULL,
  anatomic_site_concept_id INTEGER NULL,
  CONSTRAINT xpk_image_occurrence PRIMARY KEY (image_occurrence_id)
);

--HINT DISTRIBUTE_ON_KEY(person_id)
IF OBJECT_ID('@cdm_database_schema.image_feature', 'U') IS NULL
CREATE TABLE @cdm_database_schema.image_feature (
  image_feature_id BIGINT NOT NULL,
  person_id BIGINT NOT NULL,
  image_occurrence_id BIGINT NOT NULL,
  image_feature_concept_id INTEGER NOT NULL,
  image_feature_type_concept_id INTEGER NOT NULL,
  image_feature_event_field_concept_id INTEGER NULL,
  image_feature_event_id BIGINT NULL,
  image_finding_concept_id INTEGER NULL,
  image_finding_id BIGINT NULL,
  anatomic_site_concept_id INTEGER NULL,
  alg_system VARCHAR(MAX) NULL,
  alg_datetime DATETIME NULL,
  CONSTRAINT xpk_image_feature PRIMARY KEY (image_feature_id)
);
