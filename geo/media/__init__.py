"""Photos 照片 of reports: decoding and cleaning uploads (``images``), storing and attaching them (``photos``)."""
