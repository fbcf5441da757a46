"""The reference platform: the repo's own program, from the components projects use."""

import pulumi

from mlops.infra.aws import DataLake, DataLakeArgs
from mlops.infra.config import StackConfig

config = StackConfig.load()
lake = DataLake(config.name_prefix, DataLakeArgs.from_config(config))

pulumi.export("buckets", lake.bucket_names)
pulumi.export("kms_key_arn", lake.key_arn)
pulumi.export("glue_database", lake.glue_database)
