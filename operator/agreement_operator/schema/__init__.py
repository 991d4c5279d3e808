"""The AgreementMetric CRD as a versioned artefact, with no I/O beyond reading the package's own copy:
the CRD this build ships and its stamps (packaged.py), which fields of it a cluster's CRD would prune
(coverage.py), and which changes between two releases' CRDs would refuse or lose what the older one
accepted (additive.py)."""
