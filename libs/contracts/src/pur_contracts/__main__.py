"""`pur-contracts export` writes the event schemas; `pur-contracts check` verifies them."""
from __future__ import annotations

import sys

from .schemas import check, export


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "check"
    if command == "export":
        for path in export():
            print(f"wrote {path.name}")
        return 0
    if command == "check":
        problems = check()
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    print("usage: pur-contracts [export|check]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
