-- One database per service: no service reads another's tables (docs/architecture.md).
CREATE DATABASE pur_settings;
CREATE DATABASE pur_sis_sync;
CREATE DATABASE pur_requests;
CREATE DATABASE pur_digest;
