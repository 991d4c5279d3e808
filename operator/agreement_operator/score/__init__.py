"""`agreement-operator score`: a Label Studio JSON export read (label_studio_export.py), its pairs
scored by the packaged handler in batches of separate processes (pair_scoring.py), what Label
Studio would show computed (agreement_report.py), and written as a table, JSON or CSV
(report_formats.py) or an HTML page (report_html.py)."""
