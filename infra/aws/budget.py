"""``mlops:aws:CostBudget``: an AWS Budgets budget at the stack's ``budget``, alerting the team.

The budget counts the costs tagged with this stack's ``project`` and ``environment`` (activate
both as cost allocation tags in the billing console; AWS only filters on active ones) and
notifies the stack's alerts topic when the month's forecast, then its actual spend, passes the
amount: the same figure ``mlops preview`` holds the estimate to before anything is provisioned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import pulumi
import pulumi_aws as aws

from mlops.core.errors import UserError


@dataclass(frozen=True)
class CostBudgetArgs:
    """Inputs of :class:`CostBudget`.

    Attributes:
        budget_name: the budget's name (unique in the account).
        limit_usd: USD a month.
        project: the ``project`` tag whose costs count.
        environment: the ``environment`` tag whose costs count.
        topic_arn: the SNS topic notified (the stack's alerts topic).
        tags: tags of the budget itself.
    """

    budget_name: str
    limit_usd: float
    project: str
    environment: str
    topic_arn: pulumi.Input[str]
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.limit_usd <= 0:
            raise UserError(f"budget: {self.limit_usd} is not a positive amount of USD")


class CostBudget(pulumi.ComponentResource):
    """A monthly cost budget of the stack's tagged resources, alerting before and at its limit."""

    def __init__(
        self, name: str, args: CostBudgetArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:aws:CostBudget", name, None, opts)
        alerts = [
            {
                "comparison_operator": "GREATER_THAN",
                "threshold": 100,
                "threshold_type": "PERCENTAGE",
                "notification_type": kind,  # the forecast warns before the money is spent
                "subscriber_sns_topic_arns": [args.topic_arn],
            }
            for kind in ("FORECASTED", "ACTUAL")
        ]
        tag_filters = [
            {"tags": {"key": key, "values": [value], "match_options": ["EQUALS"]}}
            for key, value in (("project", args.project), ("environment", args.environment))
        ]
        self.budget = aws.budgets.Budget(
            f"{name}-budget",
            name=args.budget_name,
            budget_type="COST",
            limit_amount=f"{args.limit_usd:.2f}",
            limit_unit="USD",
            time_unit="MONTHLY",
            filter_expression=cast(Any, {"ands": tag_filters}),
            notifications=cast(Any, alerts),
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"budget_name": self.budget.name})
