"""template.yaml deploys the agents' console: private bucket behind CloudFront, hosted sign-in with
code + PKCE back to the console, CORS for the console's origin, and the custom resource that
publishes the files with a config.json naming all of it."""

from __future__ import annotations

from typing import Any

import pytest

from handoff.deploy import console_site
from handoff_local.aws import function_handlers, function_routes, load_template
from handoff_tools.functions import ROOT, TEMPLATE

# the console's address: the domain of ConsoleDomainName when set, else the distribution's own
CONSOLE_URL = {
    "Fn::If": [
        "HasConsoleDomain",
        {"Fn::Sub": "https://${ConsoleDomainName}/"},
        {"Fn::Sub": "https://${ConsoleDistribution.DomainName}/"},
    ]
}
CONSOLE_ORIGIN = {
    "Fn::If": [
        "HasConsoleDomain",
        {"Fn::Sub": "https://${ConsoleDomainName}"},
        {"Fn::Sub": "https://${ConsoleDistribution.DomainName}"},
    ]
}
SIGN_IN_URL = {"Fn::Sub": "https://${AgentsUserPoolDomain}.auth.${AWS::Region}.amazoncognito.com"}
API_URL = {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def properties(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    found: dict[str, Any] = template["Resources"][logical_id]["Properties"]
    return found


def test_agents_sign_in_on_the_hosted_page_with_code_and_pkce_back_to_the_console(template) -> None:
    domain = properties(template, "AgentsUserPoolDomain")
    client = properties(template, "AgentsUserPoolClient")

    assert template["Resources"]["AgentsUserPoolDomain"]["Type"] == "AWS::Cognito::UserPoolDomain"
    assert domain["UserPoolId"] == {"Ref": "AgentsUserPool"}
    # unique per stack, and free of the words Cognito refuses in a prefix (a stack name may have them)
    assert domain["Domain"] == {
        "Fn::Join": ["", ["agents-", {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}]]
    }
    assert client["GenerateSecret"] is False  # a browser cannot keep a secret: PKCE instead
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["AllowedOAuthFlows"] == ["code"]  # no implicit flow: tokens never ride in a URL
    assert set(client["AllowedOAuthScopes"]) >= {"openid"}
    assert client["SupportedIdentityProviders"] == ["COGNITO"]
    assert client["CallbackURLs"] == [CONSOLE_URL]
    assert client["LogoutURLs"] == [CONSOLE_URL]
    assert "custom:tenant_id" in client["ReadAttributes"]  # the ID token carries the tenant
    # the invitation tells a new agent where to sign in, with what Cognito must fill in
    invite = properties(template, "AgentsUserPool")["AdminCreateUserConfig"]["InviteMessageTemplate"]
    message, variables = invite["EmailMessage"]["Fn::Sub"]
    assert "${ConsoleUrl}" in message and variables == {"ConsoleUrl": CONSOLE_URL}
    assert "{username}" in message and "{####}" in message


def test_the_api_lets_the_console_origin_call_every_live_route(template) -> None:
    cors = properties(template, "HttpApi")["CorsConfiguration"]
    live_methods = {route.method for route in function_routes(TEMPLATE) if route.path.startswith("/live/")}

    assert cors["AllowOrigins"] == [CONSOLE_ORIGIN]
    assert {"authorization", "content-type"} <= {header.lower() for header in cors["AllowHeaders"]}
    # the list's conditional polls: the console sends If-None-Match and reads the ETag cross-origin
    assert "if-none-match" in {header.lower() for header in cors["AllowHeaders"]}
    assert [header.lower() for header in cors["ExposeHeaders"]] == ["etag"]
    assert live_methods <= set(cors["AllowMethods"])
    assert cors.get("AllowCredentials", False) is False  # the token is a header, not a cookie


def test_the_console_bucket_is_private_and_only_the_distribution_reads_it(template) -> None:
    bucket = properties(template, "ConsoleBucket")
    policy = properties(template, "ConsoleBucketPolicy")
    statements = {statement["Sid"]: statement for statement in policy["PolicyDocument"]["Statement"]}

    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert policy["Bucket"] == {"Ref": "ConsoleBucket"}
    read = statements["CloudFrontReadsTheConsole"]
    assert read["Effect"] == "Allow"
    assert read["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert read["Action"] == "s3:GetObject"
    assert read["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"].endswith(
        ":distribution/${ConsoleDistribution}"
    )
    tls = statements["TlsOnly"]
    assert tls["Effect"] == "Deny"
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_distribution_serves_the_bucket_over_https_only(template) -> None:
    config = properties(template, "ConsoleDistribution")["DistributionConfig"]
    (origin,) = config["Origins"]
    behaviour = config["DefaultCacheBehavior"]

    assert config["DefaultRootObject"] == "index.html"
    assert origin["DomainName"] == {"Fn::GetAtt": ["ConsoleBucket", "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["ConsoleOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # OAC, not the legacy OAI
    assert behaviour["TargetOriginId"] == origin["Id"]
    assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"]
    oac = properties(template, "ConsoleOriginAccessControl")["OriginAccessControlConfig"]
    assert (oac["OriginAccessControlOriginType"], oac["SigningBehavior"]) == ("s3", "always")


def test_the_console_may_have_a_domain_of_its_own_with_tls_1_2_at_least(template) -> None:
    parameters = template["Parameters"]
    config = properties(template, "ConsoleDistribution")["DistributionConfig"]
    (rule,) = template["Rules"]["ConsoleDomainAndCertificate"]["Assertions"]
    domain, certificate = {"Ref": "ConsoleDomainName"}, {"Ref": "ConsoleCertificateArn"}

    assert parameters["ConsoleDomainName"]["Default"] == parameters["ConsoleCertificateArn"]["Default"] == ""
    assert ":acm:us-east-1:" in parameters["ConsoleCertificateArn"]["AllowedPattern"]  # CloudFront's region
    assert template["Conditions"]["HasConsoleDomain"] == {
        "Fn::And": [
            {"Fn::Not": [{"Fn::Equals": [domain, ""]}]},
            {"Fn::Not": [{"Fn::Equals": [certificate, ""]}]},
        ]
    }
    # both or neither: a domain without its certificate is refused before anything is created
    assert rule["Assert"] == {
        "Fn::Or": [
            {"Fn::And": [{"Fn::Equals": [domain, ""]}, {"Fn::Equals": [certificate, ""]}]},
            {
                "Fn::And": [
                    {"Fn::Not": [{"Fn::Equals": [domain, ""]}]},
                    {"Fn::Not": [{"Fn::Equals": [certificate, ""]}]},
                ]
            },
        ]
    }
    assert config["Aliases"] == {"Fn::If": ["HasConsoleDomain", [domain], {"Ref": "AWS::NoValue"}]}
    assert config["ViewerCertificate"] == {
        "Fn::If": [
            "HasConsoleDomain",
            {
                "AcmCertificateArn": certificate,
                "SslSupportMethod": "sni-only",
                "MinimumProtocolVersion": "TLSv1.2_2021",
            },
            {"CloudFrontDefaultCertificate": True},
        ]
    }
    # where to point the domain's DNS record
    assert template["Outputs"]["ConsoleDistributionDomainName"]["Value"] == {
        "Fn::GetAtt": ["ConsoleDistribution", "DomainName"]
    }


def test_the_custom_resource_gives_the_console_everything_config_json_needs(template) -> None:
    site = properties(template, "ConsoleSite")
    outputs = template["Outputs"]

    assert template["Resources"]["ConsoleSite"]["Type"].startswith("Custom::")
    assert site["ServiceToken"] == {"Fn::GetAtt": ["ConsoleSiteFunction", "Arn"]}
    assert site["BucketName"] == {"Ref": "ConsoleBucket"}
    assert set(console_site.CONFIG_PROPERTIES) <= set(site)
    assert site["ApiUrl"] == API_URL
    assert outputs["LiveApiUrl"]["Value"] == {"Fn::Sub": API_URL["Fn::Sub"] + "/live"}
    assert site["CognitoDomain"] == SIGN_IN_URL == outputs["AgentsSignInUrl"]["Value"]
    assert site["ClientId"] == {"Ref": "AgentsUserPoolClient"}
    assert site["RedirectUri"] == CONSOLE_URL == outputs["ConsoleUrl"]["Value"]
    assert site["RedirectUri"] in properties(template, "AgentsUserPoolClient")["CallbackURLs"]
    # a deploy that changes console/ makes a new version, which changes the resource: republished
    assert properties(template, "ConsoleSiteFunction")["AutoPublishAlias"]
    assert site["ConsoleVersion"] == {"Ref": "ConsoleSiteFunction.Version"}


def test_the_publisher_ships_console_and_may_only_write_the_console_bucket(template) -> None:
    function = properties(template, "ConsoleSiteFunction")
    code_uri, handler = function_handlers(TEMPLATE)["ConsoleSiteFunction"]
    module, _, name = handler.rpartition(".")
    statements = [s for policy in function["Policies"] for s in policy["Statement"]]

    assert code_uri == ROOT / "console"
    assert (module, name) == (
        "handoff.deploy.console_site",
        "handler",
    )  # the layer's module, on Lambda's path
    assert console_site.site_files(code_uri).keys() == {path.name for path in (ROOT / "console").iterdir()}
    assert [(s["Action"], s["Resource"]) for s in statements] == [
        (["s3:PutObject", "s3:DeleteObject"], {"Fn::Sub": "${ConsoleBucket.Arn}/*"}),
        ("s3:ListBucket", {"Fn::GetAtt": ["ConsoleBucket", "Arn"]}),
    ]
    group = function["LoggingConfig"]["LogGroup"]["Ref"]
    assert properties(template, group)["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def _transformed(console_key: str, parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """The template as SAM transforms it once `sam package` has uploaded the code (no AWS call)."""
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse(TEMPLATE.read_text())
    for name, resource in template["Resources"].items():
        code = resource.get("Properties", {})
        for uri in ("CodeUri", "ContentUri"):
            if uri in code:  # sam package names each upload by its content's hash
                code[uri] = f"s3://artifacts/{console_key if name == 'ConsoleSiteFunction' else name}"

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    transformed: dict[str, Any] = transform(template, parameters or {}, NoManagedPolicies())
    return transformed


@pytest.mark.slow
def test_sams_transform_publishes_again_when_the_console_changes(monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    before = _transformed("console-aaaa")["Resources"]
    after = _transformed("console-bbbb")["Resources"]

    version = before["ConsoleSite"]["Properties"]["ConsoleVersion"]["Ref"]
    assert before[version]["Type"] == "AWS::Lambda::Version"
    # new files, new version, a changed property: CloudFormation runs the publisher again
    assert after["ConsoleSite"]["Properties"]["ConsoleVersion"]["Ref"] != version
    cors = before["HttpApi"]["Properties"]["Body"]["x-amazon-apigateway-cors"]
    # SAM fills in the parameters CloudFormation gives it (else their defaults); the condition stays
    own = {"ConsoleDomainName": "console.example.com", "ConsoleCertificateArn": "arn:aws:acm:us-east-1:1:x"}
    with_domain = _transformed("console-aaaa", own)["Resources"]["HttpApi"]["Properties"]["Body"]
    assert cors["allowOrigins"] == [
        {"Fn::If": ["HasConsoleDomain", {"Fn::Sub": "https://"}, CONSOLE_ORIGIN["Fn::If"][2]]}
    ]
    assert with_domain["x-amazon-apigateway-cors"]["allowOrigins"] == [
        {
            "Fn::If": [
                "HasConsoleDomain",
                {"Fn::Sub": "https://console.example.com"},
                CONSOLE_ORIGIN["Fn::If"][2],
            ]
        }
    ]
