-- R-CDM tables (Park et al., Yonsei Med J 2022, Tables 1 and 2) with rcdm's documented extension columns.
-- OHDSI SQL: render and translate with SqlRender (R) or rcdm.sql (Python). Creating twice is not an error.
-- UIDs are never stored: *_source_value columns hold keyed hashes (HMAC-SHA256, hex) of the DICOM UIDs.
{DEFAULT @cdm_database_schema = cdm}

--HINT DISTRIBUTE_ON_KEY(person_id)
IF OBJECT_ID('@cdm_database_schema.radiology_occurrence', 'U') IS NULL
CREATE TABLE @cdm_database_schema.radiology_occurrence (
  radiology_occurrence_id BIGINT NOT NULL,
  person_id BIGINT NOT NULL,
  radiology_occurrence_date DATE NULL,
  radiology_occurrence_datetime DATETIME NULL,
  modality VARCHAR(50) NULL,
  manufacturer VARCHAR(64) NULL,
  protocol_concept_id INTEGER NULL,
  protocol_source_value VARCHAR(255) NULL,
  count_of_series INTEGER NULL,
  count_of_images INTEGER NULL,
  radiology_note VARCHAR(MAX) NULL,
  visit_occurrence_id BIGINT NULL,
  radiology_occurrence_source_value VARCHAR(64) NULL,
  CONSTRAINT xpk_radiology_occurrence PRIMARY KEY (radiology_occurrence_id)
);

--HINT DISTRIBUTE_ON_KEY(radiology_occurrence_id)
IF OBJECT_ID('@cdm_database_schema.radiology_image', 'U') IS NULL
CREATE TABLE @cdm_database_schema.radiology_image (
  radiology_image_id BIGINT NOT NULL,
  radiology_occurrence_id BIGINT NOT NULL,
  radiology_series_id BIGINT NOT NULL,
  file_path VARCHAR(1024) NOT NULL,
  body_part_source_value VARCHAR(64) NULL,
  laterality_concept_id VARCHAR(20) NULL,
  laterality_source_value VARCHAR(20) NULL,
  anatomical_plane_concept_id VARCHAR(20) NULL,
  anatomical_plane_source_value VARCHAR(20) NULL,
  series_type_concept_id VARCHAR(20) NULL,
  series_type_source_value VARCHAR(50) NULL,
  series_total_number INTEGER NULL,
  series_serial_number INTEGER NULL,
  image_resolution_rows INTEGER NULL,
  image_resolution_columns INTEGER NULL,
  ct_slice_thickness FLOAT NULL,
  modality VARCHAR(16) NULL,
  instance_number INTEGER NULL,
  radiology_series_source_value VARCHAR(64) NULL,
  radiology_image_source_value VARCHAR(64) NULL,
  CONSTRAINT xpk_radiology_image PRIMARY KEY (radiology_image_id)
);
