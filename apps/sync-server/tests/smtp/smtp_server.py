"""A real SMTP server on loopback for the sync server's tests (aiosmtpd).

    python smtp_server.py --dir OUT [--cert CERT --key KEY] [--user U --password P]

Listens on 127.0.0.1 on a free port and prints `PORT <n>` once it accepts connections. With a
certificate it offers STARTTLS and requires it before MAIL. Each accepted message is written to
OUT/msg-<uuid>.json ({"mail_from", "rcpt_tos", "tls", "auth", "data"}), whole (temporary name,
then renamed). While OUT/reply exists, DATA is answered with its first line instead (for example
`451 4.3.0 try again later` or `550 5.7.1 refused`) and nothing is kept.
"""

import argparse
import asyncio
import json
import os
import ssl
import sys
import uuid

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Handler:
    def __init__(self, out):
        self.out = out

    async def handle_DATA(self, server, session, envelope):
        reply = os.path.join(self.out, "reply")
        try:
            with open(reply, encoding="utf-8") as f:
                line = f.readline().strip()
            if line:
                return line
        except FileNotFoundError:
            pass
        data = envelope.original_content or envelope.content
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "tls": session.ssl is not None,
            "auth": session.authenticated,
            "data": data,
        }
        name = f"msg-{uuid.uuid4()}.json"
        tmp = os.path.join(self.out, "." + name)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.out, name))
        return "250 2.0.0 OK queued"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--user")
    p.add_argument("--password")
    a = p.parse_args()

    ctx = None
    if a.cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and a.user is not None
            and auth_data.login.decode() == a.user
            and auth_data.password.decode() == a.password
        )
        return AuthResult(success=ok)

    handler = Handler(a.dir)

    def factory():
        return SMTP(
            handler,
            hostname="relay.test",
            tls_context=ctx,
            require_starttls=ctx is not None,
            authenticator=authenticator if a.user else None,
            auth_required=a.user is not None,
            auth_require_tls=True,
            decode_data=False,
        )

    async def serve():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(factory, host="127.0.0.1", port=0)
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
