-- Foreign keys of the MI-CDM tables (optional, off by default; need the CDM tables in the same schema).
{DEFAULT @cdm_database_schema = cdm}

ALTER TABLE @cdm_database_schema.image_occurrence ADD CONSTRAINT fpk_image_occurrence_person FOREIGN KEY (person_id) REFERENCES @cdm_database_schema.person (person_id);
ALTER TABLE @cdm_database_schema.image_occurrence ADD CONSTRAINT fpk_image_occurrence_procedure FOREIGN KEY (procedure_occurrence_id) REFERENCES @cdm_database_schema.procedure_occurrence (procedure_occurrence_id);
ALTER TABLE @cdm_database_schema.image_feature ADD CONSTRAINT fpk_image_feature_person FOREIGN KEY (person_id) REFERENCES @cdm_database_schema.person (person_id);
ALTER TABLE @cdm_database_schema.image_feature ADD CONSTRAINT fpk_image_feature_occurrence FOREIGN KEY (image_occurrence_id) REFERENCES @cdm_database_schema.image_occurrence (image_occurrence_id);
