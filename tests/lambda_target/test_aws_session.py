import boto3
import pytest

from agreement_operator.lambda_target import aws_session

CLIENTS = ("lambda", "logs", "cloudwatch", "sts")


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "us-gov-west-1", "cn-north-1", "us-iso-east-1"])
def test_the_cut_down_table_makes_the_endpoints_botocores_whole_table_makes(region):
    everything = boto3.session.Session()
    for service in CLIENTS:
        ours = aws_session.session().client(service, region_name=region, aws_access_key_id="a",
                                            aws_secret_access_key="b")
        theirs = everything.client(service, region_name=region, aws_access_key_id="a", aws_secret_access_key="b")
        assert ours.meta.endpoint_url == theirs.meta.endpoint_url, (service, region)


def test_the_table_keeps_every_partition_and_only_the_operators_services():
    loader = aws_session.session()._session.get_component("data_loader")
    table = loader.load_data("endpoints")
    full = boto3.session.Session()._session.get_component("data_loader").load_data("endpoints")
    assert [p["partition"] for p in table["partitions"]] == [p["partition"] for p in full["partitions"]]
    assert set().union(*(p["services"] for p in table["partitions"])) == aws_session.ENDPOINT_SERVICES
    assert len(full["partitions"][0]["services"]) > 100  # the whole table, for comparison
