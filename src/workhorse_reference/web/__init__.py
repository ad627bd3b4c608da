"""The demo's web page (the original ``ExportPage``)."""
