"""Personal data: validation, masking, residents, the audit trail and a log that never carries PII."""
