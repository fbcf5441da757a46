"""AWS components of the mlops-stack platform."""

from mlops.infra.aws.data_lake import DataLake, DataLakeArgs

__all__ = ["DataLake", "DataLakeArgs"]
