"""Tag-driven containment of compromised Amazon EC2 instances (AWS Lambda payload).

The package has no third-party runtime dependency: boto3 and botocore come with the Lambda runtime.
"""

__version__ = "0.2.0"
