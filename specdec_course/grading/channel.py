"""The verdict channel: signed records from a day's test process to the grader.

The test process runs student code, so nothing it writes can be taken on trust. Three
things make a forged verdict useless:

* **No name to write to.** Records travel over an anonymous pipe the worker inherits as a
  file descriptor, never a path on its command line or in its environment; student code
  can reach neither ``os`` nor ``open`` (the static check and the audit hook).
* **A key the student never sees.** The grader draws a fresh key per run and hands it over
  a second pipe that the worker reads and closes before any submitted module is imported;
  every record carries an HMAC over its sequence number and content. A line without a
  valid signature is an anomaly, and an anomaly costs the day (it earns nothing).
* **Only the expected story.** The grader accepts ``collected`` (the ids it asked for, in
  order), then ``start``/``result`` pairs for those ids in that order, then ``done``;
  anything else (a missing, repeated or out-of-order id, an early exit) is an anomaly or,
  for a crash, an error on the test that was running.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets

#: A record longer than this is an anomaly (messages are capped long before it).
MAX_LINE = 64_000
#: How much of any message a record carries (reports cap again, at 300 characters).
MESSAGE_CAP = 2_000


def new_key() -> bytes:
    """A fresh random key for one worker run."""
    return secrets.token_bytes(32)


def _sign(key: bytes, seq: int, body: str) -> str:
    return hmac.new(key, f"{seq}:{body}".encode(), hashlib.sha256).hexdigest()


class Sender:
    """The worker's end: writes signed records to an inherited file descriptor.

    The key lives in a closure, not an attribute, and ``send`` refuses to sign when the
    class's ``send`` is no longer itself (a submission wrapped it to rewrite verdicts): the
    record then says so instead.
    """

    def __init__(self, fd: int, key: bytes):
        counter = [0]

        def send(kind: str, **fields: object) -> None:
            if type(self).send is not original or self.send is not send:
                kind, fields = (
                    "result",
                    {
                        "nodeid": fields.get("nodeid"),
                        "outcome": "error",
                        "exception": "Tampering",
                        "message": "the submission replaced the verdict channel's send",
                    },
                )
            body = json.dumps({"kind": kind, **fields}, sort_keys=True, default=str)
            seq = counter[0]
            counter[0] += 1
            line = json.dumps({"seq": seq, "body": body, "sig": _sign(key, seq, body)})
            data = (line + "\n").encode()
            while data:  # a pipe may take a long line in pieces
                data = data[os.write(fd, data) :]

        original = Sender.send
        self.send = send  # type: ignore[method-assign]

    def send(self, kind: str, **fields: object) -> None:
        """Write one record (``kind`` plus JSON-able fields) as one signed line."""
        raise RuntimeError("a Sender's send is set per instance")


class ChannelError(ValueError):
    """A line that is not a record the worker could have signed, in its place."""


class Receiver:
    """The grader's end: checks each line's signature and sequence number."""

    def __init__(self, key: bytes):
        self._key = key
        self._seq = 0
        self._buffer = b""

    def feed(self, data: bytes) -> list[dict]:
        """Records in ``data`` (complete lines only; the rest waits for more bytes).

        Raises:
            ChannelError: for a line that is too long, not JSON, badly signed or out of
                sequence.
        """
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        if len(self._buffer) > MAX_LINE:
            raise ChannelError("a record longer than the channel allows")
        out = []
        for raw in lines:
            if len(raw) > MAX_LINE:
                raise ChannelError("a record longer than the channel allows")
            try:
                line = json.loads(raw)
                seq, body, sig = line["seq"], line["body"], line["sig"]
                record = json.loads(body)
            except (ValueError, KeyError, TypeError) as err:
                raise ChannelError(f"an unreadable line on the verdict channel ({err})") from err
            if not isinstance(seq, int) or not isinstance(sig, str) or not isinstance(record, dict):
                raise ChannelError("a malformed record on the verdict channel")
            if not hmac.compare_digest(sig, _sign(self._key, seq, body)):
                raise ChannelError("a record with a forged signature on the verdict channel")
            if seq != self._seq:
                raise ChannelError(f"record {seq} arrived where {self._seq} was due")
            self._seq += 1
            out.append(record)
        return out
