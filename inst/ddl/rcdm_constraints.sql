-- Foreign keys of the R-CDM tables. Optional and off by default, as in OHDSI's CDM DDL: they need the CDM's
-- person table in the same schema and slow down bulk loads.
{DEFAULT @cdm_database_schema = cdm}

ALTER TABLE @cdm_database_schema.radiology_occurrence ADD CONSTRAINT fpk_radiology_occurrence_person FOREIGN KEY (person_id) REFERENCES @cdm_database_schema.person (person_id);
ALTER TABLE @cdm_database_schema.radiology_image ADD CONSTRAINT fpk_radiology_image_occurrence FOREIGN KEY (radiology_occurrence_id) REFERENCES @cdm_database_schema.radiology_occurrence (radiology_occurrence_id);
