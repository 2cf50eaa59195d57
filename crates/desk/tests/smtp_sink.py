#!/usr/bin/env python3
"""A real SMTP server on loopback for the desk's tests (aiosmtpd).

usage: smtp_sink.py PORT DIR [accept|refuse]

Stores each message received as DIR/N.eml and, parsed by Python's email
package, as DIR/N.json: the envelope (mail_from, rcpt_tos), the headers
(subject, from, to, cc, message_id, in_reply_to, references), the text and
HTML bodies, and each attachment (filename, content_type, data in base64). With `refuse`, every message is
answered 550 and nothing is stored. Prints "ready" once listening, then
runs until killed.
"""
import base64
import email
import email.policy
import json
import os
import sys
import time

from aiosmtpd.controller import Controller


class Store:
    def __init__(self, directory, refuse):
        self.dir = directory
        self.refuse = refuse
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return "550 5.7.1 Message refused by test policy"
        self.n += 1
        base = os.path.join(self.dir, str(self.n))
        raw = envelope.original_content or envelope.content
        with open(base + ".eml", "wb") as f:
            f.write(raw)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        text = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        parsed = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg["subject"] or ""),
            "from": str(msg["from"] or ""),
            "to": str(msg["to"] or ""),
            "cc": str(msg["cc"] or ""),
            "message_id": str(msg["message-id"] or ""),
            "in_reply_to": str(msg["in-reply-to"] or ""),
            "references": str(msg["references"] or ""),
            "text": text.get_content() if text is not None else "",
            "html": html.get_content() if html is not None else "",
            "attachments": [
                {
                    "filename": part.get_filename(),
                    "content_type": part.get_content_type(),
                    "data_b64": base64.b64encode(part.get_payload(decode=True)).decode(),
                }
                for part in msg.iter_attachments()
            ],
        }
        with open(base + ".json.tmp", "w") as f:
            json.dump(parsed, f)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 2.0.0 Ok: stored as message %d" % self.n


def main():
    port = int(sys.argv[1])
    directory = sys.argv[2]
    refuse = len(sys.argv) > 3 and sys.argv[3] == "refuse"
    os.makedirs(directory, exist_ok=True)
    c = Controller(Store(directory, refuse), hostname="127.0.0.1", port=port)
    c.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        c.stop()


if __name__ == "__main__":
    main()
