#!/usr/bin/env python3
"""A real SMTP server on 127.0.0.1 for tenant-access's integration tests.

Started by the Rust tests (tests/smtp_support/mod.rs); needs aiosmtpd:

    python3 -m pip install 'aiosmtpd==1.4.6'

Usage: smtp_server.py MODE DIR [--auth USER:PASSWORD] [--fail N]
                       [--tls starttls|implicit --cert CERT.pem --key KEY.pem]

Binds 127.0.0.1 on a free port, prints "READY <port>" on stdout, and serves until it is
killed (or after 300 s, whichever comes first). Every event is appended to DIR/events.log
(one word per line: connect, rcpt, data, ...); every accepted message is saved as
DIR/NNN.eml (the bytes exactly as received) with DIR/NNN.envelope.json beside it.

With --tls starttls the server offers and requires STARTTLS; with --tls implicit it speaks
TLS from the first byte (SMTPS). Both use the given certificate chain and key.

Modes:
  accept       accept every message (with --auth, AUTH is required and checked)
  refuse       refuse every recipient: 550 5.1.1
  bad-sender   refuse the sender: 553 5.1.8
  tempfail     answer DATA with 451 4.3.0 for the first N messages (--fail N), then accept
  slow-data    answer the first DATA only after --delay SECONDS, then accept at once
  drop         send the greeting, then close the connection at the first command
  hang         accept the TCP connection and never say anything
"""

import asyncio
import json
import os
import ssl
import sys

try:
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
except ImportError:
    sys.stderr.write(
        "MISSING-AIOSMTPD: the SMTP integration tests need aiosmtpd: "
        "python3 -m pip install 'aiosmtpd==1.4.6'\n"
    )
    sys.exit(3)

LIFETIME_SECONDS = 300


class Recorder:
    def __init__(self, directory):
        self.directory = directory
        self.saved = 0

    def event(self, word):
        with open(os.path.join(self.directory, "events.log"), "a") as f:
            f.write(word + "\n")

    def save(self, envelope):
        self.saved += 1
        base = os.path.join(self.directory, "%03d" % self.saved)
        # Write under a temporary name, then rename, so a reader never sees half a message.
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        with open(base + ".envelope.json", "w") as f:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}, f)
        os.rename(base + ".eml.tmp", base + ".eml")


class Handler:
    def __init__(self, mode, recorder, fail):
        self.mode = mode
        self.recorder = recorder
        self.fail = fail

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.recorder.event("mail")
        if self.mode == "bad-sender":
            return "553 5.1.8 sender domain not accepted here"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.recorder.event("rcpt")
        if self.mode == "refuse":
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.recorder.event("data")
        if self.mode == "tempfail" and self.fail > 0:
            self.fail -= 1
            return "451 4.3.0 try again later"
        if self.mode == "slow-data" and self.delay > 0:
            delay, self.delay = self.delay, 0
            await asyncio.sleep(delay)
        self.recorder.save(envelope)
        return "250 2.0.0 Ok: queued as TEST%03d" % self.recorder.saved


def authenticator_for(user, password, recorder):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        recorder.event("auth-ok" if ok else "auth-fail")
        return AuthResult(success=ok, handled=False)

    return authenticate


async def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    mode, directory = args[0], args[1]
    options = dict(zip(args[2::2], args[3::2]))
    os.makedirs(directory, exist_ok=True)
    recorder = Recorder(directory)
    loop = asyncio.get_running_loop()

    if mode in ("accept", "refuse", "bad-sender", "tempfail", "slow-data"):
        handler = Handler(mode, recorder, int(options.get("--fail", "0")))
        handler.delay = float(options.get("--delay", "0"))
        auth = options.get("--auth")
        kwargs = {}
        tls = options.get("--tls")
        context = None
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(options["--cert"], options["--key"])
            if tls == "starttls":
                kwargs.update(tls_context=context, require_starttls=True)
        if auth:
            user, password = auth.split(":", 1)
            kwargs.update(
                auth_required=True,
                auth_require_tls=False,
                authenticator=authenticator_for(user, password, recorder),
            )

        def factory():
            recorder.event("connect")
            return SMTP(handler, hostname="smtp.test.invalid", loop=loop, **kwargs)

        implicit = context if tls == "implicit" else None
        server = await loop.create_server(factory, host="127.0.0.1", port=0, ssl=implicit)
    elif mode == "drop":

        async def drop(reader, writer):
            recorder.event("connect")
            writer.write(b"220 smtp.test.invalid ESMTP about to hang up\r\n")
            await writer.drain()
            await reader.readline()
            writer.close()

        server = await asyncio.start_server(drop, host="127.0.0.1", port=0)
    elif mode == "hang":
        held = []

        async def hang(reader, writer):
            recorder.event("connect")
            held.append(writer)
            await asyncio.sleep(LIFETIME_SECONDS)

        server = await asyncio.start_server(hang, host="127.0.0.1", port=0)
    else:
        sys.stderr.write("unknown mode %r\n" % mode)
        sys.exit(2)

    port = server.sockets[0].getsockname()[1]
    print("READY %d" % port, flush=True)
    await asyncio.sleep(LIFETIME_SECONDS)


if __name__ == "__main__":
    asyncio.run(main())
