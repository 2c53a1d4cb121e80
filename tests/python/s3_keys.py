"""Lists every object key of an S3 bucket as JSON (endpoint and credentials from AWS_*).

usage: s3_keys.py BUCKET
"""
import json
import os
import sys

import boto3


def main() -> None:
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[1]):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    json.dump(sorted(keys), sys.stdout)


if __name__ == "__main__":
    main()
