"""AWS adapters for the domain ports (DynamoDB, SQS, S3, SNS, SageMaker, Secrets Manager).

Each module imports only boto3/botocore (present in the Lambda runtime) and the domain
core; none imports Powertools, so the adapters work in the CLI and in tests too. Every
adapter takes an optional boto3 client so tests can inject moto- or stub-backed ones.

Modules are deliberately not imported here: a handler pays only for what it uses.
"""
