import base64
import hashlib
import io
import subprocess
import sys
import zipfile

from agreement_operator.function import packaging


def test_zip_holds_metric_and_wrapper_sorted_with_fixed_metadata(good_metric):
    archive = zipfile.ZipFile(io.BytesIO(packaging.build_zip(good_metric)))
    infos = archive.infolist()
    assert [info.filename for info in infos] == ["agreement_handler.py", "metric.py"]
    assert archive.read("metric.py").decode() == good_metric
    assert archive.read("agreement_handler.py") == packaging.wrapper_source()
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.external_attr >> 16 == 0o100644
        assert info.compress_type == zipfile.ZIP_STORED


def test_same_code_gives_the_same_bytes_and_code_sha256(good_metric):
    first, second = packaging.build_zip(good_metric), packaging.build_zip(good_metric)
    assert first == second
    assert packaging.code_sha256(first) == packaging.code_sha256(second)


def test_different_code_gives_a_different_code_sha256(good_metric):
    other = good_metric.replace("1.0", "0.0")
    assert packaging.code_sha256(packaging.build_zip(good_metric)) != packaging.code_sha256(
        packaging.build_zip(other))


def test_code_sha256_is_the_same_in_other_processes(good_metric):
    program = (
        "import sys\nfrom agreement_operator.function import packaging\n"
        "print(packaging.code_sha256(packaging.build_zip(sys.stdin.read())))"
    )
    digests = {
        subprocess.run([sys.executable, "-c", program], input=good_metric, capture_output=True,
                       text=True, check=True, env={"PYTHONHASHSEED": seed}).stdout.strip()
        for seed in ("0", "1", "random")
    }
    assert digests == {packaging.code_sha256(packaging.build_zip(good_metric))}


def test_code_sha256_is_lambdas_format():
    digest = packaging.code_sha256(b"")
    assert digest == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


# A fixed metric and the CodeSha256 its zip has had since the wrapper last changed. Every deployed
# function's digest moves with the wrapper's bytes: if this test fails, an upgrade would redeploy
# every function of every user (at the account's Lambda write quota). Change the pin only on
# purpose, and say so in docs/behaviour.md ("The zip").
PINNED_METRIC = '''def agreement(annotation_1, annotation_2, per_label=False):
    return 1.0 if annotation_1["result"] == annotation_2["result"] else 0.0
'''
PINNED_CODE_SHA256 = "Q4NK6MCJY3HB5W/KiDIuf5CTjBkoHffLMX2Wsjgdsok="
PINNED_WRAPPER_SHA256 = "YgsQuudfC0JHqCN7A9BmvZCmWRB2fMQhwafq9250xG4="


def test_a_fixed_metric_packages_to_its_pinned_code_sha256():
    wrapper = base64.b64encode(hashlib.sha256(packaging.wrapper_source()).digest()).decode()
    assert wrapper == PINNED_WRAPPER_SHA256, "the wrapper's bytes changed: every function redeploys on upgrade"
    assert packaging.code_sha256(packaging.build_zip(PINNED_METRIC)) == PINNED_CODE_SHA256
