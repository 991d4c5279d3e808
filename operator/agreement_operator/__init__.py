"""agreement-operator: Label Studio Enterprise custom agreement metrics on AWS Lambda."""

__version__ = "0.2.0"
