"""The platforms' adapters for the lifecycle's ports (:mod:`mlops.pipelines.ports`).

``aws``: SageMaker registry, pipeline trigger and CloudWatch (on AWS, and locally on the
embedded moto endpoint); ``k8s``: the retraining Job made from the CronJob; ``none``: the
trigger and sink of a platform (or a run) that has none. The object store is
:class:`mlops.pipelines.lake.Lake` everywhere (S3, MinIO, moto).

Only the composition layer and the container entry points pick adapters; the lifecycle's step
modules never import this package.
"""
