"""Coordinates of the AgreementMetric custom resource and the keys the operator owns."""

GROUP = "agreement.dev"
VERSION = "v1alpha1"
PLURAL = "agreementmetrics"
KIND = "AgreementMetric"
API_VERSION = f"{GROUP}/{VERSION}"

ADOPT_ANNOTATION = f"{GROUP}/adopt"
FINALIZER = f"{GROUP}/finalizer"
# kopf ignores changes to annotations under its storage prefix; a sub-domain keeps
# agreement.dev/adopt visible to the update handler.
KOPF_STORAGE_PREFIX = f"kopf.{GROUP}"

TAG_CLUSTER = f"{GROUP}/cluster"
TAG_NAMESPACE = f"{GROUP}/namespace"
TAG_NAME = f"{GROUP}/name"
TAG_UID = f"{GROUP}/uid"
TAG_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "agreement-operator"
