"""Shared foundations of mlops-stack: errors, catalogues and naming rules.

Nothing here imports pulumi, boto3 or sagemaker, so every layer (the CLI included) can use it
without slowing start-up.
"""
