"""`python -m tests.mongo_wire [--port N]`: the wire front as its own process. Prints its
URL on the first line of stdout, then serves until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading

from tests.mongo_wire.server import serve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    wire = serve(parser.parse_args().port)
    print(wire.url, flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    wire.stop()


if __name__ == "__main__":
    main()
