-- Indexes for the access paths of cohort extraction and reloads: person, date, protocol, study, series, hashed UIDs.
-- Targets without indexes (BigQuery, Spark, Snowflake) translate these statements to nothing.
{DEFAULT @cdm_database_schema = cdm}

CREATE INDEX idx_radiology_occurrence_person_id ON @cdm_database_schema.radiology_occurrence (person_id);
CREATE INDEX idx_radiology_occurrence_date ON @cdm_database_schema.radiology_occurrence (radiology_occurrence_date);
CREATE INDEX idx_radiology_occurrence_protocol ON @cdm_database_schema.radiology_occurrence (protocol_concept_id);
CREATE INDEX idx_radiology_occurrence_source ON @cdm_database_schema.radiology_occurrence (radiology_occurrence_source_value);
CREATE INDEX idx_radiology_image_occurrence_id ON @cdm_database_schema.radiology_image (radiology_occurrence_id);
CREATE INDEX idx_radiology_image_series_id ON @cdm_database_schema.radiology_image (radiology_series_id);
CREATE INDEX idx_radiology_image_source ON @cdm_database_schema.radiology_image (radiology_image_source_value);
