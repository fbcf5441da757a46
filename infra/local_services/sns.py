"""SNS in local mode: the alerts topic, its policy and its subscriptions."""

from __future__ import annotations

from mlops.infra.local_services.base import (
    ApiCall,
    Context,
    Ids,
    LocalService,
    Operation,
    Params,
    tag_list,
)
from mlops.infra.mock_runtime import MockedResource


def _topic(r: MockedResource, ctx: Context) -> list[ApiCall]:
    attributes = (
        {"KmsMasterKeyId": r.inputs["kmsMasterKeyId"]} if r.inputs.get("kmsMasterKeyId") else {}
    )
    return [
        ApiCall(
            "sns", "CreateTopic", {"Name": r.name, "Attributes": attributes, "Tags": tag_list(r)}
        )
    ]


def _topic_policy(r: MockedResource, ctx: Context) -> list[ApiCall]:
    return [
        ApiCall(
            "sns",
            "SetTopicAttributes",
            {
                "TopicArn": r.inputs["arn"],
                "AttributeName": "Policy",
                "AttributeValue": r.inputs["policy"],
            },
        )
    ]


def _subscription(r: MockedResource, ctx: Context) -> list[ApiCall]:
    return [
        ApiCall(
            "sns",
            "Subscribe",
            {
                "TopicArn": r.inputs["topic"],
                "Protocol": r.inputs["protocol"],
                "Endpoint": r.inputs["endpoint"],
            },
        )
    ]


def _topic_update(old: Params, new: Params, ids: Ids) -> list[ApiCall]:
    arn = ids.get("TopicArn")
    if not arn:
        return []
    return [
        ApiCall(
            "sns", "SetTopicAttributes", {"TopicArn": arn, "AttributeName": k, "AttributeValue": v}
        )
        for k, v in new.get("Attributes", {}).items()
    ]


def _topic_delete(p: Params, ids: Ids) -> list[ApiCall]:
    if "TopicArn" not in ids:
        return []
    return [ApiCall("sns", "DeleteTopic", {"TopicArn": ids["TopicArn"]})]


def _unsubscribe(p: Params, ids: Ids) -> list[ApiCall]:
    if "SubscriptionArn" not in ids:
        return []
    return [ApiCall("sns", "Unsubscribe", {"SubscriptionArn": ids["SubscriptionArn"]})]


SERVICE = LocalService(
    "sns",
    resources={
        "aws:sns/topic:Topic": _topic,
        "aws:sns/topicPolicy:TopicPolicy": _topic_policy,
        "aws:sns/topicSubscription:TopicSubscription": _subscription,
    },
    operations={
        "CreateTopic": Operation(
            delete=_topic_delete,
            update=_topic_update,
            ids=lambda answer: {"TopicArn": answer["TopicArn"]},
        ),
        "SetTopicAttributes": Operation(delete=lambda p, _: []),  # goes with its topic
        "Subscribe": Operation(
            delete=_unsubscribe, ids=lambda answer: {"SubscriptionArn": answer["SubscriptionArn"]}
        ),
    },
    gone=frozenset({"NotFound"}),
)
