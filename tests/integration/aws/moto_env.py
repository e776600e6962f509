"""The moto server of ``scripts/backends/moto.sh`` and the AWS Batch queue the tests submit to.

Nothing here reaches AWS: the endpoint is the local moto server and the credentials are fake.
``ensure_queue`` creates (once, idempotently) an IAM role and instance profile, a managed EC2
compute environment in moto's default VPC, and a job queue; moto runs the jobs of that queue as
real Docker containers. Also used by ``benchmarks/bench_aws.py``.
"""

from __future__ import annotations

import os
import socket
from typing import Any

PORT = int(os.environ.get("TORCHX_MOTO_PORT", "5077"))
ENDPOINT = f"http://127.0.0.1:{PORT}"
REGION = "us-east-1"
QUEUE = "torchx-test"
FAKE_ENV = {
    "AWS_ENDPOINT_URL": ENDPOINT,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
"""Environment that points every boto3 client at moto with fake credentials."""


def server_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", PORT), timeout=2):
            return True
    except OSError:
        return False


def use_moto() -> None:
    """Point this process's boto3 clients at moto (and never at AWS)."""
    os.environ.update(FAKE_ENV)
    for k in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        os.environ.pop(k, None)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


def client(service: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=ENDPOINT, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def ensure_queue(name: str = QUEUE) -> str:
    """The ARN of job queue ``name`` (created with its compute environment when missing)."""
    batch = client("batch")
    queues = batch.describe_job_queues(jobQueues=[name])["jobQueues"]
    if queues:
        return str(queues[0]["jobQueueArn"])
    iam, ec2 = client("iam"), client("ec2")
    try:
        role = iam.get_role(RoleName="torchx-batch")["Role"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="torchx-batch", AssumeRolePolicyDocument="{}")["Role"]
    try:
        profile = iam.get_instance_profile(InstanceProfileName="torchx-batch")["InstanceProfile"]
    except iam.exceptions.NoSuchEntityException:
        profile = iam.create_instance_profile(InstanceProfileName="torchx-batch")["InstanceProfile"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]]
    groups = [g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]]
    env_name = f"{name}-env"
    envs = batch.describe_compute_environments(computeEnvironments=[env_name])
    if envs["computeEnvironments"]:
        env_arn = envs["computeEnvironments"][0]["computeEnvironmentArn"]
    else:
        env_arn = batch.create_compute_environment(
            computeEnvironmentName=env_name, type="MANAGED", state="ENABLED",
            computeResources={
                "type": "EC2", "minvCpus": 0, "maxvCpus": 64, "desiredvCpus": 0,
                "instanceTypes": ["optimal"], "subnets": subnets[:1],
                "securityGroupIds": groups[:1], "instanceRole": profile["Arn"],
            },
            serviceRole=role["Arn"],
        )["computeEnvironmentArn"]
    return str(batch.create_job_queue(
        jobQueueName=name, state="ENABLED", priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env_arn}],
    )["jobQueueArn"])
