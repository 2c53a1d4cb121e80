"""Parses the messages smtp_sink.py kept, as a MUA would, and prints them as JSON.

Usage: read_mail.py DIR
Prints a list, oldest first: {"rcpt_tos", "to", "subject", "content_type", "parts": [{"type",
"text"}]} with every leaf part decoded to text.
"""

import email
import email.policy
import json
import os
import sys


def main():
    directory = sys.argv[1]
    out = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(directory, name), encoding="utf-8") as fh:
            record = json.load(fh)
        msg = email.message_from_string(record["data"], policy=email.policy.default)
        parts = [
            {"type": part.get_content_type(), "text": part.get_content()}
            for part in msg.walk()
            if not part.is_multipart()
        ]
        out.append(
            {
                "rcpt_tos": sorted(record["rcpt_tos"]),
                "to": str(msg["To"]),
                "subject": str(msg["Subject"]),
                "content_type": msg.get_content_type(),
                "parts": parts,
            }
        )
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)
