"""Logic the pages share: caches and services, forms, progress views, tables and result views."""
