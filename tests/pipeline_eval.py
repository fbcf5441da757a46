"""A small interpreter of SageMaker Pipeline expressions, for tests.

It resolves ``Get`` (parameters, execution variables, step properties given by the test),
``Std:Join`` and ``Std:JsonGet`` (against property files given by the test), and evaluates a
Condition step's conditions. Unknown expressions raise, so a definition that uses something
this does not understand fails loudly instead of passing by accident.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Json = dict[str, Any]


class Resolver:
    """Resolves expressions of one definition for one imagined execution.

    Args:
        definition: the pipeline definition.
        execution_id: the value of ``Execution.PipelineExecutionId``.
        parameters: parameter values that override the defaults.
        properties: ``Steps.X.Y`` paths -> values (step outputs the test pretends happened).
        property_files: ``Steps.<step>.PropertyFiles.<name>`` -> the parsed JSON file.
    """

    def __init__(
        self,
        definition: Json,
        *,
        execution_id: str = "exec-1",
        parameters: Mapping[str, Any] | None = None,
        properties: Mapping[str, Any] | None = None,
        property_files: Mapping[str, Json] | None = None,
    ) -> None:
        self.values: dict[str, Any] = {
            f"Parameters.{p['Name']}": p["DefaultValue"] for p in definition["Parameters"]
        }
        self.values.update({f"Parameters.{k}": v for k, v in (parameters or {}).items()})
        self.values["Execution.PipelineExecutionId"] = execution_id
        self.values["Execution.PipelineName"] = "pipeline"
        self.values.update(properties or {})
        self.property_files = dict(property_files or {})

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"Get"}:
                if value["Get"] not in self.values:
                    raise KeyError(f"the test gave no value for {value['Get']}")
                return self.values[value["Get"]]
            if set(value) == {"Std:Join"}:
                join = value["Std:Join"]
                return join["On"].join(str(self(v)) for v in join["Values"])
            if set(value) == {"Std:JsonGet"}:
                spec = value["Std:JsonGet"]
                document: Any = self.property_files[spec["PropertyFile"]["Get"]]
                for part in spec["Path"].split("."):
                    document = document[part]
                return document
            if any(key.startswith("Std:") for key in value):
                raise ValueError(f"unknown expression {value}")
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        return value

    def condition_holds(self, step: Json) -> bool:
        """Whether every condition of a Condition step holds."""
        results = []
        for condition in step["Arguments"]["Conditions"]:
            left, right = self(condition["LeftValue"]), self(condition["RightValue"])
            kind = condition["Type"]
            if kind == "Equals":
                results.append(left == right)
            elif kind == "GreaterThanOrEqualTo":
                results.append(left >= right)
            elif kind == "LessThanOrEqualTo":
                results.append(left <= right)
            else:
                raise ValueError(f"unknown condition type {kind}")
        return all(results)

    def next_steps(self, step: Json) -> list[str]:
        """The names of the steps a Condition step runs next."""
        branch = "IfSteps" if self.condition_holds(step) else "ElseSteps"
        return [s["Name"] for s in step["Arguments"][branch]]
