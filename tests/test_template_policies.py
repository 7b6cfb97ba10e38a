"""Least privilege, read from infra/template.yaml (no stack needed): every function's IAM policy is
inline, names its own resources (no wildcard action or resource), and grants exactly the secrets,
tables and queues its environment names, so a function reads no secret it does not need."""

from pathlib import Path

import pytest
import yaml

TEMPLATE = Path(__file__).resolve().parent.parent / "infra" / "template.yaml"


class CfnLoader(yaml.SafeLoader):
    pass


def _intrinsic(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _intrinsic)
RESOURCES = yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)["Resources"]
FUNCTIONS = sorted(k for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function")
KINDS = {"secret": "AWS::SecretsManager::Secret", "table": "AWS::DynamoDB::Table", "queue": "AWS::SQS::Queue"}


def logical_ids(value) -> set[str]:
    """The template resources a value refers to (Ref, GetAtt), anywhere inside it."""
    if isinstance(value, dict):
        if "Ref" in value:
            return {value["Ref"]}
        if "Fn::GetAtt" in value:
            return {value["Fn::GetAtt"][0]}
        return set().union(*(logical_ids(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(logical_ids(v) for v in value)) if value else set()
    return set()


def of_kind(ids: set[str], kind: str) -> set[str]:
    return {i for i in ids if RESOURCES.get(i, {}).get("Type") == KINDS[kind]}


def statements(function: str) -> list[dict]:
    found = []
    for policy in RESOURCES[function]["Properties"].get("Policies", []):
        assert isinstance(policy, dict), f"{function}: a managed or SAM policy template ({policy}) is not reviewed here"
        found.extend(policy["Statement"])
    return found


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_is_granted_exactly_what_its_environment_names(function):
    env = RESOURCES[function]["Properties"].get("Environment", {}).get("Variables", {})
    named = logical_ids(env)
    granted: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for st in statements(function):
        assert st["Effect"] == "Allow", st
        actions = as_list(st["Action"])
        resources = as_list(st["Resource"])
        assert not any("*" in a for a in actions), f"{function}: a wildcard action in {actions}"
        for r in resources:
            assert not isinstance(r, str), f"{function}: a literal resource {r!r} (name the template's own)"
            assert logical_ids(r), f"{function}: {r} names no resource of the template"
        ids = logical_ids(resources)
        services = {a.split(":")[0] for a in actions}
        for kind, service in (("secret", "secretsmanager"), ("table", "dynamodb"), ("queue", "sqs")):
            if service in services:
                assert ids == of_kind(ids, kind), f"{function}: {service} actions on {ids}"
                granted[kind] |= ids
    for kind in KINDS:
        assert granted[kind] == of_kind(named, kind), (
            f"{function}: {kind}s granted {sorted(granted[kind])}, named in its environment {sorted(of_kind(named, kind))}")


def test_every_secret_is_read_by_some_function_and_webhook_secrets_by_their_webhook_only():
    readers: dict[str, set[str]] = {}
    for function in FUNCTIONS:
        for st in statements(function):
            if "secretsmanager:GetSecretValue" in as_list(st["Action"]):
                for secret in logical_ids(st["Resource"]):
                    readers.setdefault(secret, set()).add(function)
    secrets = {k for k, v in RESOURCES.items() if v["Type"] == KINDS["secret"]}
    assert secrets == set(readers), f"secrets no function reads: {sorted(secrets - set(readers))}"
    for secret, who in readers.items():
        if secret.endswith("WebhookSecret"):
            assert who == {secret.replace("Secret", "Function")}, f"{secret} is read by {sorted(who)}"
