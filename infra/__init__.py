"""The mlops-stack Pulumi component library.

``mlops.infra.config`` (the typed stack config) imports no Pulumi code at module level;
``mlops.infra.aws`` holds the AWS components and imports ``pulumi_aws``.
"""
