BEGIN
  EXECUTE IMMEDIATE 'CREATE TABLE cdm.radiology_occurrence (radiology_occurrence_id NUMBER(19) NOT NULL, person_id NUMBER(19) NOT NULL, radiology_occurrence_date DATE NULL, radiology_occurrence_datetime TIMESTAMP NULL, modality VARCHAR2(50) NULL, manufacturer VARCHAR2(64) NULL, protocol_concept_id INT NULL, protocol_source_value VARCHAR2(255) NULL, count_of_series INT NULL, count_of_images INT NULL, radiology_note CLOB NULL, visit_occurrence_id NUMBER(19) NULL, radiology_occurrence_source_value VARCHAR2(64) NULL, CONSTRAINT xpk_radiology_occurrence PRIMARY KEY (radiology_occurrence_id))';
EXCEPTION
  WHEN OTHERS THEN
    IF SQLCODE != -955 THEN
      RAISE;
    END IF;
END;
BEGIN
  EXECUTE IMMEDIATE 'CREATE TABLE cdm.radiology_image (radiology_image_id NUMBER(19) NOT NULL, radiology_occurrence_id NUMBER(19) NOT NULL, radiology_series_id NUMBER(19) NOT NULL, file_path VARCHAR2(1024) NOT NULL, body_part_source_value VARCHAR2(64) NULL, laterality_concept_id VARCHAR2(20) NULL, laterality_source_value VARCHAR2(20) NULL, anatomical_plane_concept_id VARCHAR2(20) NULL, anatomical_plane_source_value VARCHAR2(20) NULL, series_type_concept_id VARCHAR2(20) NULL, series_type_source_value VARCHAR2(50) NULL, series_total_number INT NULL, series_serial_number INT NULL, image_resolution_rows INT NULL, image_resolution_columns INT NULL, ct_slice_thickness DOUBLE PRECISION NULL, modality VARCHAR2(16) NULL, instance_number INT NULL, radiology_series_source_value VARCHAR2(64) NULL, radiology_image_source_value VARCHAR2(64) NULL, CONSTRAINT xpk_radiology_image PRIMARY KEY (radiology_image_id))';
EXCEPTION
  WHEN OTHERS THEN
    IF SQLCODE != -955 THEN
      RAISE;
    END IF;
END;
CREATE INDEX idx_radiology_occurrence_person_id ON cdm.radiology_occurrence(person_id);
CREATE INDEX idx_radiology_occurrence_date ON cdm.radiology_occurrence(radiology_occurrence_date);
CREATE INDEX idx_radiology_occurrence_protocol ON cdm.radiology_occurrence(protocol_concept_id);
CREATE INDEX idx_radiology_occurrence_source ON cdm.radiology_occurrence(radiology_occurrence_source_value);
CREATE INDEX idx_radiology_image_occurrence_id ON cdm.radiology_image(radiology_occurrence_id);
CREATE INDEX idx_radiology_image_series_id ON cdm.radiology_image(radiology_series_id);
CREATE INDEX idx_radiology_image_source ON cdm.radiology_image(radiology_image_source_value);
ALTER TABLE cdm.radiology_occurrence ADD CONSTRAINT fpk_radiology_occurrence_person FOREIGN KEY (person_id) REFERENCES cdm.person (person_id);
ALTER TABLE cdm.radiology_image ADD CONSTRAINT fpk_radiology_image_occurrence FOREIGN KEY (radiology_occurrence_id) REFERENCES cdm.radiology_occurrence (radiology_occurrence_id);
BEGIN
  EXECUTE IMMEDIATE 'CREATE TABLE cdm.image_occurrence (image_occurrence_id NUMBER(19) NOT NULL, person_id NUMBER(19) NOT NULL, visit_occurrence_id NUMBER(19) NULL, procedure_occurrence_id NUMBER(19) NOT NULL, wadors_uri CLOB NULL, local_path CLOB NULL, image_occurrence_date DATE NOT NULL, image_study_uid VARCHAR2(250) NOT NULL, image_series_uid VARCHAR2(250) NOT NULL, modality_concept_id INT NOT NULL, anatomic_site_concept_id INT NULL, CONSTRAINT xpk_image_occurrence PRIMARY KEY (image_occurrence_id))';
EXCEPTION
  WHEN OTHERS THEN
    IF SQLCODE != -955 THEN
      RAISE;
    END IF;
END;
BEGIN
  EXECUTE IMMEDIATE 'CREATE TABLE cdm.image_feature (image_feature_id NUMBER(19) NOT NULL, person_id NUMBER(19) NOT NULL, image_occurrence_id NUMBER(19) NOT NULL, image_feature_concept_id INT NOT NULL, image_feature_type_concept_id INT NOT NULL, image_feature_event_field_concept_id INT NULL, image_feature_event_id NUMBER(19) NULL, image_finding_concept_id INT NULL, image_finding_id NUMBER(19) NULL, anatomic_site_concept_id INT NULL, alg_system CLOB NULL, alg_datetime TIMESTAMP NULL, CONSTRAINT xpk_image_feature PRIMARY KEY (image_feature_id))';
EXCEPTION
  WHEN OTHERS THEN
    IF SQLCODE != -955 THEN
      RAISE;
    END IF;
END;
CREATE INDEX idx_image_occurrence_person_id ON cdm.image_occurrence(person_id);
CREATE INDEX idx_image_occurrence_date ON cdm.image_occurrence(image_occurrence_date);
CREATE INDEX idx_image_occurrence_procedure ON cdm.image_occurrence(procedure_occurrence_id);
CREATE INDEX idx_image_feature_occurrence_id ON cdm.image_feature(image_occurrence_id);
CREATE INDEX idx_image_feature_person_id ON cdm.image_feature(person_id);
ALTER TABLE cdm.image_occurrence ADD CONSTRAINT fpk_image_occurrence_person FOREIGN KEY (person_id) REFERENCES cdm.person (person_id);
ALTER TABLE cdm.image_occurrence ADD CONSTRAINT fpk_image_occurrence_procedure FOREIGN KEY (procedure_occurrence_id) REFERENCES cdm.procedure_occurrence (procedure_occurrence_id);
ALTER TABLE cdm.image_feature ADD CONSTRAINT fpk_image_feature_person FOREIGN KEY (person_id) REFERENCES cdm.person (person_id);
ALTER TABLE cdm.image_feature ADD CONSTRAINT fpk_image_feature_occurrence FOREIGN KEY (image_occurrence_id) REFERENCES cdm.image_occurrence (image_occurrence_id);
