"""GET pods/{name}/log: a container's log as the API server (and the kubelet behind it) serves
it, with its options, its errors, and `follow` streamed by the server; and the pod
subresources the sandbox cannot serve (exec, attach, port-forward), refused in words."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from .. import logs
from .base import ApiError, Response

UNSUPPORTED = {"exec", "attach", "portforward", "proxy"}
BOOLS = {"true": True, "1": True, "false": False, "0": False, "": False}


@dataclass
class Follow:
    """Where a `follow` stream is: the run it reads, and the last line it sent."""

    uid: str
    container: str
    run_id: str
    after: datetime  # the time of the last line sent
    sent_at_after: int  # how many lines stamped `after` were sent
    timestamps: bool
    bytes_left: int | None
    done: bool = False


def unsupported(sub: str, name: str) -> ApiError:
    what = {"exec": "exec into", "portforward": "port-forward to"}.get(sub, f"{sub} to")
    return ApiError(
        400,
        "BadRequest",
        f"the sandbox cannot {what} pod {name}: its containers are simulated and run no "
        "processes; read what they write with kubectl logs",
        name=name,
        kind="pods",
    )


def pod_log(sb, req, pod: dict) -> Response:
    if req.method != "GET":
        raise ApiError(405, "MethodNotAllowed", f"{req.method} is not supported on pods/log")
    q = req.query
    previous, follow = _bool(q, "previous"), _bool(q, "follow")
    timestamps = _bool(q, "timestamps")
    tail, limit = _int(q, "tailLines", 0), _int(q, "limitBytes", 1)
    since_seconds = _int(q, "sinceSeconds", 1)
    since = _since(sb, q, since_seconds)
    name = pod["metadata"]["name"]
    container = _container(pod, q.get("container", ""))
    if not pod["spec"].get("nodeName"):
        raise ApiError(400, "BadRequest", f"pod {name} does not have a host assigned")
    run_id = _container_id(pod, container, previous)
    rt = sb.runtime.get(pod["metadata"]["uid"])
    c = rt.containers.get(container) if rt is not None else None
    run = logs.run_named(c, run_id) if c is not None else None
    lines = logs.read(sb, rt, run, since=since, tail=tail) if run is not None else []
    body = _text(lines, timestamps)
    if limit is not None:
        body = body[:limit]
    headers = {"Content-Type": "text/plain"}
    if not follow or run is None or previous:
        return Response(200, body, headers=headers)
    last = lines[-1][0] if lines else sb.now
    cursor = Follow(
        uid=rt.uid,
        container=container,
        run_id=run.id,
        after=last,
        sent_at_after=sum(1 for t, _ in lines if t == last),
        timestamps=timestamps,
        bytes_left=None if limit is None else limit - len(body),
        done=run.ended is not None,
    )
    return Response(200, body, headers=headers, follow=cursor)


def follow_more(sb, cursor: Follow) -> bytes:
    """The lines written since the cursor (call under the sandbox's lock); marks the cursor
    done when its run has ended (or the pod is gone) and everything was sent."""
    rt = sb.runtime.get(cursor.uid)
    c = rt.containers.get(cursor.container) if rt is not None else None
    run = logs.run_named(c, cursor.run_id) if c is not None else None
    if run is None:
        cursor.done = True
        return b""
    lines = logs.read(sb, rt, run, since=cursor.after)
    same = sum(1 for t, _ in lines if t == cursor.after)
    skip = min(cursor.sent_at_after, same)
    fresh = lines[skip:]
    if fresh:
        last = fresh[-1][0]
        counted = sum(1 for t, _ in fresh if t == last)
        cursor.sent_at_after = counted + (skip if last == cursor.after else 0)
        cursor.after = last
    body = _text(fresh, cursor.timestamps)
    if cursor.bytes_left is not None:
        body, cursor.bytes_left = body[: cursor.bytes_left], cursor.bytes_left - len(body)
        if cursor.bytes_left <= 0:
            cursor.done = True
    if run.ended is not None:
        cursor.done = True
    return body


def _text(lines: list[tuple[datetime, str]], timestamps: bool) -> bytes:
    if timestamps:
        return "".join(f"{_nano(t)} {text}\n" for t, text in lines).encode()
    return "".join(f"{text}\n" for _, text in lines).encode()


def _nano(t: datetime) -> str:
    """RFC 3339 with nanoseconds, trailing zeros trimmed, as the kubelet stamps lines."""
    frac = f"{t.microsecond:06d}000".rstrip("0")
    return f"{t:%Y-%m-%dT%H:%M:%S}{'.' + frac if frac else ''}Z"


def _container(pod: dict, name: str) -> str:
    names = [c["name"] for c in pod["spec"]["containers"]]
    pod_name = pod["metadata"]["name"]
    if not name:
        if len(names) == 1:
            return names[0]
        raise ApiError(
            400,
            "BadRequest",
            f"a container name must be specified for pod {pod_name}, choose one of: "
            f"[{' '.join(names)}]",
        )
    if name not in names:
        raise ApiError(400, "BadRequest", f"container {name} is not valid for pod {pod_name}")
    return name


def _container_id(pod: dict, name: str, previous: bool) -> str:
    """Which run the kubelet reads, by the container's status: the previous one (lastState),
    the running one, or the one that last ended; or why there is none."""
    pod_name = pod["metadata"]["name"]
    status = next(
        (s for s in pod["status"].get("containerStatuses") or [] if s["name"] == name), {}
    )
    state, last = status.get("state") or {}, (status.get("lastState") or {}).get("terminated")
    if previous:
        if not last or not last.get("containerID"):
            raise ApiError(
                400,
                "BadRequest",
                f'previous terminated container "{name}" in pod "{pod_name}" not found',
            )
        return _run_id(last["containerID"])
    if "running" in state or "terminated" in state:
        return _run_id(status.get("containerID") or "")
    if last and last.get("containerID"):
        return _run_id(last["containerID"])
    reason = (state.get("waiting") or {}).get("reason", "")
    why = {
        "ErrImagePull": "image can't be pulled",
        "ImagePullBackOff": "trying and failing to pull image",
    }.get(reason, reason or "ContainerCreating")
    raise ApiError(
        400, "BadRequest", f'container "{name}" in pod "{pod_name}" is waiting to start: {why}'
    )


def _run_id(container_id: str) -> str:
    return container_id.removeprefix("containerd://")


def _bool(q: dict, field: str) -> bool:
    value = q.get(field, "").lower()
    if value not in BOOLS:
        raise _bad(field, q[field], "must be true or false")
    return BOOLS[value]


def _int(q: dict, field: str, minimum: int) -> int | None:
    if field not in q:
        return None
    try:
        value = int(q[field])
    except ValueError:
        raise _bad(field, q[field], "must be an integer") from None
    if value < minimum:
        raise _bad(field, q[field], f"must be greater than or equal to {minimum}")
    return value


def _since(sb, q: dict, seconds: int | None) -> datetime | None:
    if seconds is not None and q.get("sinceTime"):
        raise _bad("sinceTime", q["sinceTime"], "at most one of sinceTime or sinceSeconds")
    if seconds is not None:
        return sb.now - timedelta(seconds=seconds)
    if q.get("sinceTime"):
        try:
            return datetime.fromisoformat(q["sinceTime"].replace("Z", "+00:00"))
        except ValueError:
            raise _bad("sinceTime", q["sinceTime"], "must be an RFC 3339 time") from None
    return None


def _bad(field: str, value: str, why: str) -> ApiError:
    message = f"Invalid value: {value!r}: {why}"
    return ApiError(
        400,
        "BadRequest",
        f"PodLogOptions is invalid: {field}: {message}",
        kind="PodLogOptions",
        causes=[{"reason": "FieldValueInvalid", "message": message, "field": field}],
    )
