"""What an AgreementMetric is, without any I/O: its spec read and checked (spec.py, code_checks.py),
code kept in a ConfigMap (code_from.py), manifests on disk (manifests.py), who it is (owner.py),
its function's name (naming.py) and tags (tags.py)."""
