"""What ``aws_batch`` and ``aws_sagemaker`` share: boto3 clients, error translation, CloudWatch logs.

boto3 is imported only here, inside functions (``pip install 'torchx[aws]'``). Clients take their
endpoint from ``AWS_ENDPOINT_URL_<SERVICE>`` or ``AWS_ENDPOINT_URL`` (so a moto server or a VPC
endpoint works with every service, STS included), their region from the usual boto3 chain, else
``us-east-1``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

from torchx.specs.api import TorchXError

DEFAULT_REGION = "us-east-1"
TAG_PREFIX = "torchx.pytorch.org/"
TAG_VERSION, TAG_APP_NAME, TAG_USER = TAG_PREFIX + "version", TAG_PREFIX + "app-name", TAG_PREFIX + "user"
TAG_SESSION = TAG_PREFIX + "session"
TAIL_POLL_S = 1.0


def boto3_client(service: str, region: str | None = None) -> Any:
    """A boto3 client for ``service`` honouring ``AWS_ENDPOINT_URL[_<SERVICE>]``."""
    try:
        import boto3
    except ImportError:
        raise TorchXError(
            f"the AWS schedulers need boto3: pip install 'torchx[aws]' (for {service})"
        ) from None
    session = boto3.session.Session()
    env_key = "AWS_ENDPOINT_URL_" + re.sub(r"[^A-Z0-9]", "_", service.upper())
    endpoint = os.environ.get(env_key) or os.environ.get("AWS_ENDPOINT_URL") or None
    return session.client(service, region_name=region or session.region_name or DEFAULT_REGION,
                          endpoint_url=endpoint)


def is_client_error(e: BaseException, *codes: str) -> bool:
    """True for a botocore ``ClientError`` whose error code is one of ``codes`` (any if none)."""
    response = getattr(e, "response", None)
    if not isinstance(response, dict) or "Error" not in response:
        return False
    return not codes or response["Error"].get("Code") in codes


def translate(e: BaseException, what: str) -> TorchXError:
    """A boto3/botocore error as one line saying what failed and what to check."""
    name = type(e).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return TorchXError(
            f"{what}: no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE")
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError"):
        return TorchXError(f"{what}: cannot reach the AWS endpoint ({e}): check AWS_ENDPOINT_URL,"
                           " the region and the network")
    if is_client_error(e):
        err = getattr(e, "response", {})["Error"]
        return TorchXError(f"{what}: {err.get('Code', 'error')}: {one_line(err.get('Message', e))}")
    return TorchXError(f"{what}: {name}: {one_line(e)}")


def one_line(text: object, limit: int = 300) -> str:
    """``text`` as one short line: HTML tags dropped, whitespace collapsed, cut at ``limit``."""
    flat = " ".join(re.sub(r"<[^>]*>", " ", str(text)).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def aws_call(what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
    """``fn(**kwargs)``, with boto errors translated to one :py:class:`TorchXError` line."""
    try:
        return fn(**kwargs)
    except TorchXError:
        raise
    except Exception as e:  # botocore raises many unrelated classes; all are translated
        if type(e).__module__.split(".")[0] in ("botocore", "boto3") or is_client_error(e):
            raise translate(e, what) from None
        raise


def clean_name(name: str, max_len: int, allowed: str = r"A-Za-z0-9_-") -> str:
    """``name`` with characters outside ``allowed`` replaced by ``-``, starting alphanumeric."""
    cleaned = re.sub(f"[^{allowed}]+", "-", name)
    cleaned = re.sub(r"^[^A-Za-z0-9]+", "", cleaned)[:max_len].rstrip("-")
    return cleaned or "app"


def millis(t: datetime | None) -> int | None:
    """Milliseconds since the epoch (naive datetimes are local time)."""
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.astimezone()
    return int(t.astimezone(timezone.utc).timestamp() * 1000)


def log_lines(
    logs: Any,
    group: str,
    stream: Callable[[], str | None],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    should_tail: bool = False,
    running: Callable[[], bool] = lambda: False,
) -> Iterator[str]:
    """Lines (ending in ``\\n``) of a CloudWatch log stream, oldest first.

    ``stream()`` names the stream (None while it is not known yet, e.g. a job still pending).
    With ``should_tail`` the stream is followed until ``running()`` is False and nothing new
    came; ``since``/``until`` bound the event timestamps.
    """
    name = stream()
    while name is None:
        if not should_tail or not running():
            name = stream()  # the job may have ended and named its stream meanwhile
            if name is None:
                return
            break
        time.sleep(TAIL_POLL_S)
        name = stream()
    kwargs: dict[str, Any] = {"logGroupName": group, "logStreamName": name, "startFromHead": True}
    if since is not None:
        kwargs["startTime"] = millis(since)
    if until is not None:
        kwargs["endTime"] = millis(until)
    ended = False
    while True:
        try:
            page = logs.get_log_events(**kwargs)
        except Exception as e:
            if not is_client_error(e, "ResourceNotFoundException"):
                raise translate(e, f"reading CloudWatch logs {group}/{name}") from None
            page = {"events": []}  # the stream is not created yet
        events = page.get("events") or []
        for event in events:
            yield str(event.get("message", "")).rstrip("\n") + "\n"
        if page.get("nextForwardToken"):
            kwargs["nextToken"] = page["nextForwardToken"]
        if events:
            continue  # more may follow at once
        if not should_tail or ended:
            return
        if not running():
            ended = True  # read once more: the last lines may land as the job ends
            continue
        time.sleep(TAIL_POLL_S)
