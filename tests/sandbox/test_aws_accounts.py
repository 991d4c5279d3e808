"""The sandbox proxy's view of which account and region a request is for, as AWS decides it."""

from agreement_operator.sandbox.aws_accounts import DEFAULT_ACCOUNT, Accounts

SIGNED = "AWS4-HMAC-SHA256 Credential={key}/20261206/{region}/lambda/aws4_request, SignedHeaders=host, Signature=x"
ASSUMED = (b"<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId>"
           b"</Credentials><AssumedRoleUser><Arn>arn:aws:sts::111111111111:assumed-role/Target/session</Arn>"
           b"</AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>")


def test_a_key_handed_out_by_assume_role_is_the_roles_account_in_the_signed_region():
    accounts = Accounts()
    assert accounts.of(SIGNED.format(key="ASIAEXAMPLE", region="eu-west-1"), "us-east-1") == (
        DEFAULT_ACCOUNT, "eu-west-1")
    accounts.learn(ASSUMED)
    assert accounts.of(SIGNED.format(key="ASIAEXAMPLE", region="eu-west-1"), "us-east-1") == (
        "111111111111", "eu-west-1")
    assert accounts.of(SIGNED.format(key="sandbox", region="us-east-1"), "us-east-1") == (DEFAULT_ACCOUNT, "us-east-1")


def test_an_unsigned_request_is_the_home_account_and_region():
    assert Accounts().of(None, "us-east-1") == (DEFAULT_ACCOUNT, "us-east-1")


def test_answers_other_than_assume_role_teach_nothing():
    accounts = Accounts()
    accounts.learn(b"<GetCallerIdentityResponse><Arn>arn:aws:sts::111111111111:assumed-role/x/y</Arn>"
                   b"<AccessKeyId>ASIAEXAMPLE</AccessKeyId></GetCallerIdentityResponse>")
    assert accounts.of(SIGNED.format(key="ASIAEXAMPLE", region="eu-west-1"), "us-east-1")[0] == DEFAULT_ACCOUNT
