"""The Spark drift check's entry file, at a fixed path in the Spark image (Dockerfile.spark).

SageMaker runs the image with ``smspark-submit`` and this file as the application (the stack's
drift-check pipeline sets both): smspark-submit forms a YARN cluster of the job's instances and
spark-submits this file on the primary with the step's arguments (``monitor ... --engine
spark``), which it hands to mlops-stack's container entry point as they are.
"""

import sys

from mlops.pipelines.container import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
