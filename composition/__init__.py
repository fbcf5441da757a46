"""The composition layer: wires a project's files, the platform's outputs and the lifecycle.

Lifecycle (``mlops.pipelines``) and platform (``mlops.infra``) never import each other; this
layer, imported only by the CLI, reads the platform's outputs (local mode's record, or a stack's
``platform`` output), builds the clients and hands them to the lifecycle's steps.
"""
