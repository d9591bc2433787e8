"""Reading a county's own files: vector formats through GDAL (pyogrio), spreadsheets, encodings, CRSs, field maps."""
