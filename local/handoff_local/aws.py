"""The local run's AWS: moto resources created from template.yaml itself, and the template's routes.

`template.yaml` is the one source of truth: the table (keys, indexes, TTL), the FIFO queue and its
dead-letter queue, the event bus, the functions' environment and their HTTP routes are all read
from it here, so the local run cannot drift from what `sam deploy` creates.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import boto3

LOCAL_REGION = "us-east-1"

# What the caller puts in os.environ before starting moto: a region and credentials that moto
# accepts and no real account would (so nothing can reach AWS by mistake).
LOCAL_AWS_ENVIRONMENT: Mapping[str, str] = {
    "AWS_DEFAULT_REGION": LOCAL_REGION,
    "AWS_REGION": LOCAL_REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
}

# Logical ids and parameter names in template.yaml this module relies on.
APP_TABLE = "AppTable"
INBOUND_QUEUE = "InboundQueue"
HANDOFF_BUS = "HandoffBus"
GRAPH_API_URL_PARAMETER = "GraphApiUrl"
PARAMETER_PREFIX_PARAMETER = "ParameterPrefix"

# The secrets live outside the template (SSM SecureString, created by the operator on AWS).
APP_SECRET_SUFFIX = "app-secret"
VERIFY_TOKEN_SUFFIX = "verify-token"
ACCESS_TOKENS_SUFFIX = "access-tokens"

LOCAL_SOCKET_API_ID = "local"
"""What `!Ref` of the WebSocket API gives locally (on AWS, the API's id)."""

_PROVISIONED_TYPES = (
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::Events::EventBus",
    "AWS::SecretsManager::Secret",
)
_FUNCTION_TYPE = "AWS::Serverless::Function"


# --- reading the template ----------------------------------------------------------------------


def load_template(template_path: Path) -> dict[str, Any]:
    """The template as data, read by cfn-lint's own decoder (a safe YAML loader).

    Short tags come in their long form: `!Ref X` as `{"Ref": "X"}`, `!Sub ...` as `{"Fn::Sub": ...}`,
    and `!GetAtt A.B` (or `!GetAtt [A, B]`) always as `{"Fn::GetAtt": ["A", "B"]}`. Mappings, lists
    and strings are dict, list and str subclasses that carry their position in the file, and a key
    written twice in one mapping is an error.
    """
    from cfnlint.decode import cfn_yaml  # imported on first use: importing cfn-lint takes a while

    template = cfn_yaml.load(str(template_path))
    if not isinstance(template, dict) or "Resources" not in template:
        raise ValueError(f"{template_path} is not a CloudFormation/SAM template")
    return template


def _resources_of_type(template: Mapping[str, Any], *types: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") in types
    }


_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


def _dependencies(node: Any) -> set[str]:
    """The logical ids (and parameters, pseudo-parameters) a property value refers to."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else str(value).partition(".")[0])
            elif key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])
                found |= {name.partition(".")[0] for name in _SUB_VARIABLE.findall(text)} - set(variables)
                found |= _dependencies(variables)
            else:
                found |= _dependencies(value)
    elif isinstance(node, list):
        for item in node:
            found |= _dependencies(item)
    return found


_NO_VALUE = object()
"""`!Ref AWS::NoValue`: the property it is the value of is left out, as CloudFormation does."""


class _Resolver:
    """Evaluates the intrinsic functions the local resources use against what has been created,
    the template's conditions (`!If`, `!Equals`, `!Not`, `!And`, `!Or`) included."""

    def __init__(self, template: Mapping[str, Any], pseudo: Mapping[str, str], parameters: Mapping[str, str]):
        self.conditions: Mapping[str, Any] = template.get("Conditions", {})
        self._decided: dict[str, bool] = {}
        declared = template.get("Parameters", {})
        unknown = set(parameters) - set(declared)
        if unknown:
            raise ValueError(f"parameters not declared in the template: {sorted(unknown)}")
        self.values: dict[str, Any] = dict(pseudo)
        for name, declaration in declared.items():
            if name in parameters:
                self.values[name] = parameters[name]
            elif "Default" in declaration:
                self.values[name] = str(declaration["Default"])
        self.attributes: dict[tuple[str, str], str] = {}

    def created(self, logical_id: str, ref: str, **attributes: str) -> None:
        self.values[logical_id] = ref
        for attribute, value in attributes.items():
            self.attributes[(logical_id, attribute)] = value

    def ref(self, name: str) -> Any:
        if name not in self.values:
            raise KeyError(f"!Ref {name}: not a parameter with a value, nor a resource created locally")
        return self.values[name]

    def get_att(self, logical_id: str, attribute: str) -> str:
        if (logical_id, attribute) not in self.attributes:
            raise KeyError(f"!GetAtt {logical_id}.{attribute}: not available locally")
        return self.attributes[(logical_id, attribute)]

    def sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.value(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                logical_id, _, attribute = name.partition(".")
                return self.get_att(logical_id, attribute)
            return str(self.ref(name))

        return _SUB_VARIABLE.sub(replace, text).replace("${!", "${")

    def condition(self, name: str) -> bool:
        """Whether the template's condition `name` holds for this run's parameters."""
        if name not in self._decided:
            if name not in self.conditions:
                raise KeyError(f"condition {name} is not in the template's Conditions")
            self._decided[name] = self.truth(self.conditions[name])
        return self._decided[name]

    def truth(self, node: Any) -> bool:
        (key, argument), *_ = node.items()
        match key:
            case "Condition":
                return self.condition(argument)
            case "Fn::Equals":
                left, right = (self.value(side) for side in argument)
                return str(left) == str(right)
            case "Fn::Not":
                return not self.truth(argument[0])
            case "Fn::And":
                return all(self.truth(item) for item in argument)
            case "Fn::Or":
                return any(self.truth(item) for item in argument)
        raise NotImplementedError(f"{key} is not a condition function")

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.value(item) for item in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, argument), *_ = node.items()
            if key == "Ref" and argument == "AWS::NoValue":
                return _NO_VALUE
            if key == "Fn::If":
                name, if_true, if_false = argument
                return self.value(if_true if self.condition(name) else if_false)
            if key == "Ref":
                return self.ref(argument)
            if key == "Fn::GetAtt":
                return self.get_att(*(argument if isinstance(argument, list) else argument.split(".", 1)))
            if key == "Fn::Sub":
                if isinstance(argument, str):
                    return self.sub(argument, {})
                return self.sub(argument[0], argument[1])
            if key == "Fn::Join":
                separator, items = argument
                return separator.join(str(item) for item in self.value(items))
            if key.startswith("Fn::"):
                raise NotImplementedError(f"{key} is not supported by the local run")
        resolved = {key: self.value(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not _NO_VALUE}


# --- provisioning on moto ----------------------------------------------------------------------


@dataclass(frozen=True)
class LocalStack:
    """What `provision` created: physical names, and the functions' environment."""

    stack_name: str
    region: str
    table_name: str
    queue_url: str
    dead_letter_queue_url: str
    event_bus_name: str
    parameter_prefix: str
    app_secret: str
    verify_token: str
    physical_ids: tuple[tuple[str, str], ...]
    base_environment: tuple[tuple[str, str], ...]
    graph_api_variables: tuple[str, ...]
    push_variables: tuple[str, ...] = ()

    def environment(self, graph_api_url: str, push_url: str | None = None) -> dict[str, str]:
        """Exactly the variables template.yaml's Globals give every function, resolved locally.

        The variables that take the `GraphApiUrl` parameter get `graph_api_url` (a fake Graph API);
        those that name the WebSocket API's address get `push_url` when given (the local run's
        stand-in for it), else the address it would have on AWS.
        """
        environment = dict(self.base_environment)
        environment.update(dict.fromkeys(self.graph_api_variables, graph_api_url))
        if push_url is not None:
            environment.update(dict.fromkeys(self.push_variables, push_url))
        return environment

    def physical_id(self, logical_id: str) -> str:
        """The local name (table, bus) or URL (queue) of a resource of the template."""
        return dict(self.physical_ids)[logical_id]

    @property
    def app_secret_parameter(self) -> str:
        return f"{self.parameter_prefix}/{APP_SECRET_SUFFIX}"

    @property
    def verify_token_parameter(self) -> str:
        return f"{self.parameter_prefix}/{VERIFY_TOKEN_SUFFIX}"

    def access_token_parameter(self, account_id: str) -> str:
        return f"{self.parameter_prefix}/{ACCESS_TOKENS_SUFFIX}/{account_id}"

    def put_access_token(self, account_id: str, token: str = "local-access-token") -> str:
        """Store a channel account's access token as the operator would on AWS; returns its name."""
        name = self.access_token_parameter(account_id)
        _put_secure_string(boto3.client("ssm", region_name=self.region), name, token)
        return name


def provision(
    template_path: Path,
    stack_name: str = "async-handoff-local",
    *,
    app_secret: str = "local-app-secret",
    verify_token: str = "local-verify-token",
    parameters: Mapping[str, str] | None = None,
    region: str = LOCAL_REGION,
) -> LocalStack:
    """Create on moto, from template.yaml's own properties, every resource the local run needs.

    The caller must have started moto (`with moto.mock_aws(): ...`, or pointed boto3 at a
    `ThreadedMotoServer`) and, before creating any boto3 client, set in `os.environ` a region
    and fake credentials: `AWS_DEFAULT_REGION=us-east-1`, `AWS_ACCESS_KEY_ID=testing`,
    `AWS_SECRET_ACCESS_KEY=testing` (`LOCAL_AWS_ENVIRONMENT` holds them all). Then run the
    handlers with `os.environ.update(stack.environment(graph_api_url))`.

    Created: the DynamoDB table (keys, GSIs, TTL, point-in-time recovery), the SQS queues
    (dead-letter queues first, then the queues that redrive to them), the EventBridge buses,
    and SecureString parameters `{ParameterPrefix}/app-secret` and `{ParameterPrefix}/verify-token`.
    Physical names are `{stack_name}-{LogicalId}` (`.fifo` appended for FIFO queues), unless the
    template names the resource itself (the bus: `${AWS::StackName}-HandoffBus`).
    `parameters` overrides the template's parameter defaults, as `--parameter-overrides` would.
    """
    template = load_template(template_path)
    account = boto3.client("sts", region_name=region).get_caller_identity()["Account"]
    resolver = _Resolver(
        template,
        pseudo={
            "AWS::StackName": stack_name,
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        },
        parameters=parameters or {},
    )
    clients = {
        "AWS::DynamoDB::Table": boto3.client("dynamodb", region_name=region),
        "AWS::SQS::Queue": boto3.client("sqs", region_name=region),
        "AWS::Events::EventBus": boto3.client("events", region_name=region),
        "AWS::SecretsManager::Secret": boto3.client("secretsmanager", region_name=region),
    }
    creators: dict[str, Callable[[Any, str, str, dict[str, Any], _Resolver], None]] = {
        "AWS::DynamoDB::Table": _create_table,
        "AWS::SQS::Queue": _create_queue,
        "AWS::Events::EventBus": _create_event_bus,
        "AWS::SecretsManager::Secret": _create_generated_secret,
    }
    resources = _resources_of_type(template, *_PROVISIONED_TYPES)
    physical: dict[str, str] = {}
    for logical_id in _creation_order(resources):
        resource = resources[logical_id]
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue  # not created with this run's parameters, as CloudFormation would not
        kind = resource["Type"]
        creators[kind](clients[kind], logical_id, stack_name, resource.get("Properties", {}), resolver)
        physical[logical_id] = str(resolver.ref(logical_id))

    # the WebSocket API is played by the local run itself (`handoff_local.sockets`): a local id
    # lets the variables that name its address resolve, and the run gives them its own address
    socket_apis = set(_socket_apis(template))
    for logical_id in socket_apis:
        resolver.created(logical_id, LOCAL_SOCKET_API_ID)

    prefix = str(resolver.ref(PARAMETER_PREFIX_PARAMETER))
    ssm = boto3.client("ssm", region_name=region)
    _put_secure_string(ssm, f"{prefix}/{APP_SECRET_SUFFIX}", app_secret)
    _put_secure_string(ssm, f"{prefix}/{VERIFY_TOKEN_SUFFIX}", verify_token)

    variables: dict[str, Any] = (
        template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    graph_api_variables = tuple(
        name for name, node in variables.items() if node == {"Ref": GRAPH_API_URL_PARAMETER}
    )
    base_environment = tuple(
        (name, str(resolver.value(node)))
        for name, node in variables.items()
        if name not in graph_api_variables
    )
    push_variables = tuple(name for name, node in variables.items() if _dependencies(node) & socket_apis)
    inbound = resources[INBOUND_QUEUE]["Properties"]
    dead_letter_queue = _dead_letter_target(inbound)
    if dead_letter_queue is None:
        raise ValueError(f"{INBOUND_QUEUE} has no RedrivePolicy to a dead-letter queue in the template")
    return LocalStack(
        stack_name=stack_name,
        region=region,
        table_name=physical[APP_TABLE],
        queue_url=physical[INBOUND_QUEUE],
        dead_letter_queue_url=physical[dead_letter_queue],
        event_bus_name=physical[HANDOFF_BUS],
        parameter_prefix=prefix,
        app_secret=app_secret,
        verify_token=verify_token,
        physical_ids=tuple(physical.items()),
        base_environment=base_environment,
        graph_api_variables=graph_api_variables,
        push_variables=push_variables,
    )


def _creation_order(resources: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Logical ids ordered so that each comes after the resources it refers to (a DLQ before its queue)."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(logical_id: str) -> None:
        if logical_id in ordered:
            return
        if logical_id in visiting:
            raise ValueError(f"circular reference through {logical_id}")
        visiting.add(logical_id)
        for dependency in sorted(_dependencies(resources[logical_id].get("Properties", {}))):
            if dependency in resources:
                visit(dependency)
        visiting.discard(logical_id)
        ordered.append(logical_id)

    for logical_id in resources:
        visit(logical_id)
    return ordered


def _physical_name(
    properties: Mapping[str, Any], name_property: str, logical_id: str, stack_name: str, resolver: _Resolver
) -> str:
    if name_property in properties:
        return str(resolver.value(properties[name_property]))
    return f"{stack_name}-{logical_id}"


def _create_table(
    dynamodb: Any, logical_id: str, stack_name: str, properties: dict[str, Any], resolver: _Resolver
) -> None:
    spec = resolver.value(properties)
    name = _physical_name(properties, "TableName", logical_id, stack_name, resolver)
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": spec["AttributeDefinitions"],
        "KeySchema": spec["KeySchema"],
        "BillingMode": spec.get("BillingMode", "PROVISIONED"),
    }
    if "ProvisionedThroughput" in spec:
        request["ProvisionedThroughput"] = _throughput(spec["ProvisionedThroughput"])
    for indexes in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if indexes in spec:
            request[indexes] = [_index(index) for index in spec[indexes]]
    if "SSESpecification" in spec:
        sse = spec["SSESpecification"]
        request["SSESpecification"] = {"Enabled": bool(sse.get("SSEEnabled", False))} | {
            key: sse[key] for key in ("SSEType", "KMSMasterKeyId") if key in sse
        }
    if "StreamSpecification" in spec:
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": spec["StreamSpecification"]["StreamViewType"],
        }
    description = dynamodb.create_table(**request)["TableDescription"]
    if "TimeToLiveSpecification" in spec:
        ttl = spec["TimeToLiveSpecification"]
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": bool(ttl["Enabled"])},
        )
    recovery = spec.get("PointInTimeRecoverySpecification", {})
    if recovery.get("PointInTimeRecoveryEnabled"):
        dynamodb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    attributes = {"Arn": description["TableArn"]}
    if description.get("LatestStreamArn"):
        attributes["StreamArn"] = description["LatestStreamArn"]
    resolver.created(logical_id, name, **attributes)


def _create_generated_secret(
    secretsmanager: Any, logical_id: str, stack_name: str, properties: dict[str, Any], resolver: _Resolver
) -> None:
    """A secret CloudFormation generates (`GenerateSecretString`): random letters and digits here."""
    generate = resolver.value(properties).get("GenerateSecretString")
    if not isinstance(generate, dict):
        raise NotImplementedError(f"{logical_id}: only generated secrets are created locally")
    alphabet = string.ascii_letters + string.digits
    value = "".join(secrets.choice(alphabet) for _ in range(int(generate.get("PasswordLength", 32))))
    name = _physical_name(properties, "Name", logical_id, stack_name, resolver)
    arn = secretsmanager.create_secret(Name=name, SecretString=value)["ARN"]
    resolver.created(logical_id, arn, Id=arn)


def _throughput(throughput: Mapping[str, Any]) -> dict[str, int]:
    return {key: int(throughput[key]) for key in ("ReadCapacityUnits", "WriteCapacityUnits")}


def _index(index: Mapping[str, Any]) -> dict[str, Any]:
    request = {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
    if "ProvisionedThroughput" in index:
        request["ProvisionedThroughput"] = _throughput(index["ProvisionedThroughput"])
    return request


# CloudFormation's AWS::SQS::Queue properties that are SQS attributes of the same name.
_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)


def _attribute(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _create_queue(
    sqs: Any, logical_id: str, stack_name: str, properties: dict[str, Any], resolver: _Resolver
) -> None:
    spec = resolver.value(properties)
    fifo = _attribute(spec.get("FifoQueue", False)) == "true"
    name = _physical_name(properties, "QueueName", logical_id, stack_name, resolver)
    if fifo and not name.endswith(".fifo"):
        name += ".fifo"
    attributes = {key: _attribute(spec[key]) for key in _QUEUE_ATTRIBUTES if key in spec}
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    resolver.created(logical_id, url, Arn=arn, QueueName=name, QueueUrl=url)


def _dead_letter_target(queue_properties: Mapping[str, Any]) -> str | None:
    """The logical id of the queue a queue's RedrivePolicy sends dead letters to, if any."""
    target = queue_properties.get("RedrivePolicy", {}).get("deadLetterTargetArn")
    dependencies = _dependencies(target) if target is not None else set()
    return next(iter(dependencies), None)


def _create_event_bus(
    events: Any, logical_id: str, stack_name: str, properties: dict[str, Any], resolver: _Resolver
) -> None:
    name = _physical_name(properties, "Name", logical_id, stack_name, resolver)
    arn = events.create_event_bus(Name=name)["EventBusArn"]
    resolver.created(logical_id, name, Arn=arn, Name=name)


def _put_secure_string(ssm: Any, name: str, value: str) -> None:
    ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)


# --- the functions: handlers, HTTP routes, other triggers -------------------------------------


def _functions(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return _resources_of_type(template, _FUNCTION_TYPE)


def _function_globals(template: Mapping[str, Any]) -> Mapping[str, Any]:
    defaults: Mapping[str, Any] = template.get("Globals", {}).get("Function", {})
    return defaults


def function_handlers(template_path: Path) -> dict[str, tuple[Path, str]]:
    """Function logical id -> (its CodeUri as a path next to the template, its Handler)."""
    template = load_template(template_path)
    defaults = _function_globals(template)
    base = Path(template_path).resolve().parent
    handlers: dict[str, tuple[Path, str]] = {}
    for logical_id, function in _functions(template).items():
        properties = function.get("Properties", {})
        code_uri = properties.get("CodeUri", defaults.get("CodeUri"))
        handler = properties.get("Handler", defaults.get("Handler"))
        if not isinstance(code_uri, str) or not isinstance(handler, str):
            raise ValueError(f"{logical_id}: CodeUri and Handler must be plain strings to run locally")
        handlers[logical_id] = (base / code_uri, handler)
    return handlers


@dataclass(frozen=True)
class Route:
    """One HTTP API route of the template: which function serves it and whether it needs a JWT."""

    method: str
    path: str
    function: str
    code_uri: Path
    authorized: bool

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters if `method path` is this route (API Gateway's `{name}` / `{name+}`)."""
        if method.upper() != self.method and self.method != "ANY":
            return None
        found = _path_pattern(self.path).fullmatch(path.rstrip("/") or "/")
        return found.groupdict() if found else None


@cache
def _path_pattern(path: str) -> re.Pattern[str]:
    pattern = ""
    for literal, name, greedy in re.findall(r"([^{]*)(?:\{(\w+)(\+?)\})?", path):
        pattern += re.escape(literal)
        if name:
            pattern += f"(?P<{name}>.+)" if greedy else f"(?P<{name}>[^/]+)"
    return re.compile(pattern)


def function_routes(template_path: Path) -> list[Route]:
    """Every HttpApi event of the template's functions, in template order.

    `authorized` follows API Gateway: a route's own `Auth.Authorizer` wins (`NONE` means open),
    otherwise the API's `Auth.DefaultAuthorizer` applies (the explicit HttpApi resource named by
    `ApiId`, or `Globals.HttpApi` for SAM's implicit API).
    """
    template = load_template(template_path)
    handlers = function_handlers(template_path)
    routes: list[Route] = []
    for logical_id, function in _functions(template).items():
        for event in function.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") != "HttpApi":
                continue
            properties = event.get("Properties", {})
            authorizer = properties.get("Auth", {}).get("Authorizer")
            if authorizer is None:
                authorizer = _default_authorizer(template, properties.get("ApiId"))
            routes.append(
                Route(
                    method=str(properties.get("Method", "ANY")).upper(),
                    path=str(properties.get("Path", "/$default")),
                    function=logical_id,
                    code_uri=handlers[logical_id][0],
                    authorized=authorizer not in (None, "NONE"),
                )
            )
    return routes


def _default_authorizer(template: Mapping[str, Any], api_id: Any) -> str | None:
    if isinstance(api_id, dict) and "Ref" in api_id:
        api = template["Resources"][api_id["Ref"]].get("Properties", {})
    else:
        api = template.get("Globals", {}).get("HttpApi", {})
    authorizer = api.get("Auth", {}).get("DefaultAuthorizer")
    return str(authorizer) if authorizer is not None else None


@dataclass(frozen=True)
class Trigger:
    """A non-HTTP event source of a function: an SQS queue, a schedule or an EventBridge rule."""

    function: str
    kind: str  # "sqs" | "schedule" | "eventbridge"
    source: str | None = None  # logical id of the queue or bus (None: the default bus)
    schedule: str | None = None
    pattern: str | None = None  # the EventBridge pattern, as JSON
    batch_size: int | None = None

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether an EventBridge event (`source`, `detail-type`, `detail` ...) matches this rule.

        Supports what the template uses: lists of exact values, nested for `detail`.
        """
        if self.kind != "eventbridge" or self.pattern is None:
            return False
        return _matches(json.loads(self.pattern), event)


def _matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    for key, expected in pattern.items():
        if isinstance(expected, dict):
            value = event.get(key)
            if not isinstance(value, Mapping) or not _matches(expected, value):
                return False
        elif event.get(key) not in expected:
            return False
    return True


def function_triggers(template_path: Path) -> list[Trigger]:
    """The SQS, Schedule and EventBridgeRule events of the template's functions, in template order."""
    template = load_template(template_path)
    triggers: list[Trigger] = []
    for logical_id, function in _functions(template).items():
        for event in function.get("Properties", {}).get("Events", {}).values():
            properties = event.get("Properties", {})
            kind = event.get("Type")
            if kind == "SQS":
                triggers.append(
                    Trigger(
                        function=logical_id,
                        kind="sqs",
                        source=_single(_dependencies(properties.get("Queue"))),
                        batch_size=int(properties.get("BatchSize", 10)),
                    )
                )
            elif kind in ("Schedule", "ScheduleV2"):
                expression = properties.get("Schedule", properties.get("ScheduleExpression"))
                triggers.append(Trigger(function=logical_id, kind="schedule", schedule=str(expression)))
            elif kind == "EventBridgeRule":
                bus = properties.get("EventBusName")
                triggers.append(
                    Trigger(
                        function=logical_id,
                        kind="eventbridge",
                        source=_single(_dependencies(bus)) if bus is not None else None,
                        pattern=json.dumps(properties.get("Pattern", {}), sort_keys=True),
                    )
                )
    return triggers


def _single(names: Iterable[str]) -> str | None:
    names = sorted(names)
    return names[0] if names else None


# --- the WebSocket API (the push channel) ---------------------------------------------------------


_SOCKET_API_TYPE = "AWS::ApiGatewayV2::Api"


def _socket_apis(template: Mapping[str, Any]) -> list[str]:
    return [
        logical_id
        for logical_id, api in _resources_of_type(template, _SOCKET_API_TYPE).items()
        if api.get("Properties", {}).get("ProtocolType") == "WEBSOCKET"
    ]


@dataclass(frozen=True)
class SocketRoute:
    """One route of the WebSocket API: the function its integration invokes, and for `$connect`
    the authorizer's function and where it finds its identity (`route.request.querystring.ticket`)."""

    route_key: str
    function: str | None
    authorizer: str | None = None
    identity_source: tuple[str, ...] = ()


@dataclass(frozen=True)
class SocketApi:
    """The template's WebSocket API as the local run plays it: its stage's name and its routes."""

    logical_id: str
    stage: str
    routes: tuple[SocketRoute, ...]

    def route(self, route_key: str) -> SocketRoute | None:
        return next((route for route in self.routes if route.route_key == route_key), None)


def socket_api(template_path: Path) -> SocketApi | None:
    """The template's WebSocket API (there is at most one), read from its Api, Stage, Route,
    Integration and Authorizer resources; None when the template has none."""
    template = load_template(template_path)
    apis = _socket_apis(template)
    if not apis:
        return None
    if len(apis) > 1:
        raise ValueError(f"the local run plays one WebSocket API; the template has {sorted(apis)}")
    (api,) = apis
    resources = template["Resources"]
    functions = set(_functions(template))

    def of_api(kind: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource.get("Properties", {})
            for logical_id, resource in _resources_of_type(template, kind).items()
            if resource.get("Properties", {}).get("ApiId") == {"Ref": api}
        }

    def function_of(properties: Mapping[str, Any], uri: str) -> str:
        (function,) = _dependencies(properties.get(uri)) & functions
        return function

    stages = [str(stage["StageName"]) for stage in of_api("AWS::ApiGatewayV2::Stage").values()]
    if len(stages) != 1:
        raise ValueError(f"the WebSocket API {api} needs exactly one stage to run locally, not {stages}")
    routes = []
    for properties in of_api("AWS::ApiGatewayV2::Route").values():
        target = properties.get("Target")
        integrations = _dependencies(target) & set(resources) if target is not None else set()
        function = None
        if integrations:
            function = function_of(resources[integrations.pop()]["Properties"], "IntegrationUri")
        authorizer = identity = None
        if properties.get("AuthorizationType") == "CUSTOM":
            found = resources[properties["AuthorizerId"]["Ref"]]["Properties"]
            authorizer = function_of(found, "AuthorizerUri")
            identity = tuple(str(source) for source in found.get("IdentitySource", []))
        routes.append(SocketRoute(str(properties["RouteKey"]), function, authorizer, identity or ()))
    return SocketApi(logical_id=api, stage=stages[0], routes=tuple(routes))
