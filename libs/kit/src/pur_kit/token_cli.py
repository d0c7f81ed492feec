"""Mint tokens for local use: `pur-token person --sub <user id> --district springfield`, `pur-token system`."""
from __future__ import annotations

import argparse
import os

from .auth import mint_token
from .config import DEV_JWT_SECRET


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pur-token", description=__doc__)
    sub = parser.add_subparsers(dest="kind", required=True)
    person = sub.add_parser("person", help="a directory user's token")
    person.add_argument("--sub", required=True, help="directory user id (UUID)")
    person.add_argument("--district", required=True, help="district id")
    system = sub.add_parser("system", help="the operator/system credential")
    for p in (person, system):
        p.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    args = parser.parse_args(argv)
    secret = os.environ.get("JWT_SECRET", DEV_JWT_SECRET)
    if args.kind == "system":
        print(mint_token(secret, sub="system", system=True, ttl_seconds=args.ttl))
    else:
        print(mint_token(secret, sub=args.sub, district_id=args.district, ttl_seconds=args.ttl))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
