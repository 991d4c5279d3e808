"""The sandbox control plane's key material: the ServiceAccount token keys, and a CA with the
apiserver's serving certificate, so that clients verify TLS as they do in a cluster (in-cluster
config reads the CA from /var/run/secrets/kubernetes.io/serviceaccount/ca.crt)."""

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# The names a pod reaches the apiserver by, and the loopback address the sandbox serves on.
SERVING_NAMES = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 "kubernetes.default.svc.cluster.local")
SERVING_ADDRESSES = ("127.0.0.1",)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def service_account_keys(directory: Path) -> None:
    """sa.key signs ServiceAccount tokens, sa.pub verifies them."""
    key = _key()
    (directory / "sa.key").write_bytes(_pem(key))
    (directory / "sa.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def serving_certificate(directory: Path, addresses: tuple[str, ...] = ()) -> tuple[Path, Path, Path]:
    """ca.crt, and apiserver.crt / apiserver.key signed by it for SERVING_NAMES, SERVING_ADDRESSES and
    `addresses`."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, serving_key = _key(), _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "agreement-operator sandbox CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=7))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    alternatives = [x509.DNSName(name) for name in SERVING_NAMES] + [
        x509.IPAddress(ipaddress.ip_address(address)) for address in dict.fromkeys(SERVING_ADDRESSES + addresses)]
    serving = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
               .issuer_name(ca_name).public_key(serving_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=7))
               .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
               .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.crt", directory / "apiserver.crt", directory / "apiserver.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(serving.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_pem(serving_key))
    return paths
