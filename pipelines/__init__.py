"""The ML lifecycle runtime: typed steps that take their AWS clients as arguments.

The same steps run in-process (local mode, ``mlops demo``) and as the platform's SageMaker
Pipeline; only the endpoint and the executor change. Nothing here builds a client at import.
"""
