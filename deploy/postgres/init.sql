-- One database per service (DESIGN.md section 2: no service reads another's tables).
CREATE DATABASE pur_settings;
CREATE DATABASE pur_sis_sync;
CREATE DATABASE pur_requests;
CREATE DATABASE pur_digest;
