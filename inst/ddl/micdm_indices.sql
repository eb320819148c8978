-- Indexes for the MI-CDM tables' access paths (person, date, study, procedure, feature's series).
{DEFAULT @cdm_database_schema = cdm}

CREATE INDEX idx_image_occurrence_person_id ON @cdm_database_schema.image_occurrence (person_id);
CREATE INDEX idx_image_occurrence_date ON @cdm_database_schema.image_occurrence (image_occurrence_date);
CREATE INDEX idx_image_occurrence_procedure ON @cdm_database_schema.image_occurrence (procedure_occurrence_id);
CREATE INDEX idx_image_feature_occurrence_id ON @cdm_database_schema.image_feature (image_occurrence_id);
CREATE INDEX idx_image_feature_person_id ON @cdm_database_schema.image_feature (person_id);
