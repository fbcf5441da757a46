"""The reference platform: the repo's own program, from the components projects use."""

import pulumi

from mlops.infra.aws import MLPlatform
from mlops.infra.config import StackConfig

config = StackConfig.load()
platform = MLPlatform(config.name_prefix, config)

pulumi.export("platform", platform.platform)
