"""What an application using boto3 does with the env it was given: a default
session (region and credential chain from the env), sts:GetCallerIdentity, the
ARN printed. On failure: the exception's class and message on one line, exit 1."""

import sys

import boto3

try:
    print(boto3.client("sts").get_caller_identity()["Arn"])
except Exception as error:  # the user's view: whatever the SDK raised
    print(f"{type(error).__name__}: {' '.join(str(error).split())}")
    sys.exit(1)
