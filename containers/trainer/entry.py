"""SageMaker entry point (SAGEMAKER_PROGRAM). The toolkit appends the hyperparameters as
--key value arguments; we ignore them and read the /opt/ml contract instead."""

import sys

from paperfoundry_trainer.cli import main

if __name__ == "__main__":
    sys.exit(main(["sagemaker"]))
