"""What the Object Lock tests ask of an S3 server, through boto3 (AWS's own
client, independent of pramaan's): make buckets, read back each object's
retention and legal hold, and try to delete a version as an operator would.

Usage: s3lock.py ENDPOINT COMMAND ARGS...  (credentials from the environment)
  bucket NAME lock|plain        make a bucket, with Object Lock or without
  bucket NAME lock-default DAYS with Object Lock and a default COMPLIANCE retention
  locks NAME PREFIX             one JSON line per key under PREFIX:
                                {key, versions, mode, until, legal_hold}
  delete-version NAME KEY       delete KEY's newest version by its id; prints
                                "deleted" or "refused <code>"
  overwrite NAME KEY            put a new version of KEY (no lock of its own)
  versions NAME KEY             how many versions (and delete markers) KEY has
"""

import json
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def client(endpoint):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def versions(s3, bucket, key):
    r = s3.list_object_versions(Bucket=bucket, Prefix=key)
    out = [v for v in r.get("Versions", []) if v["Key"] == key]
    out += [m for m in r.get("DeleteMarkers", []) if m["Key"] == key]
    return out


def main():
    endpoint, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    s3 = client(endpoint)
    if cmd == "bucket":
        name, kind = args[:2]
        s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=(kind != "plain"))
        if kind == "lock-default":
            s3.put_object_lock_configuration(
                Bucket=name,
                ObjectLockConfiguration={
                    "ObjectLockEnabled": "Enabled",
                    "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": int(args[2])}},
                },
            )
    elif cmd == "locks":
        name, prefix = args
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=name, Prefix=prefix)
        for page in pages:
            for o in page.get("Contents", []):
                key = o["Key"]
                row = {"key": key, "versions": len(versions(s3, name, key))}
                # moto has no GetObjectRetention; HeadObject says the same on AWS.
                h = s3.head_object(Bucket=name, Key=key)
                row["mode"] = h.get("ObjectLockMode")
                until = h.get("ObjectLockRetainUntilDate")
                row["until"] = until.strftime("%Y-%m-%dT%H:%M:%SZ") if until else None
                row["legal_hold"] = h.get("ObjectLockLegalHoldStatus")
                print(json.dumps(row))
    elif cmd == "delete-version":
        name, key = args
        newest = s3.head_object(Bucket=name, Key=key)["VersionId"]
        try:
            s3.delete_object(Bucket=name, Key=key, VersionId=newest)
            print("deleted")
        except ClientError as e:
            print("refused", e.response["Error"]["Code"])
    elif cmd == "overwrite":
        name, key = args
        s3.put_object(Bucket=name, Key=key, Body=b"not the segment")
    elif cmd == "versions":
        name, key = args
        print(len(versions(s3, name, key)))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
