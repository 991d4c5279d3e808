"""Coordinates of the AgreementMetric custom resource and the metadata keys the operator owns."""

GROUP = "agreement.dev"
VERSION = "v1alpha1"
PLURAL = "agreementmetrics"
KIND = "AgreementMetric"

ADOPT_ANNOTATION = f"{GROUP}/adopt"
FINALIZER = f"{GROUP}/finalizer"
# kopf ignores changes to annotations under its storage prefix; a sub-domain keeps
# agreement.dev/adopt visible to the update handler.
KOPF_STORAGE_PREFIX = f"kopf.{GROUP}"
# ConfigMaps that hold metric code carry this label; the operator watches only those.
CODE_LABEL = f"{GROUP}/metric-code"
CODE_LABEL_VALUE = "true"
