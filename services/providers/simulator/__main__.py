"""`python -m services.providers.simulator --port 9100`: serve the simulator standalone."""

from __future__ import annotations

import argparse

import uvicorn

from services.providers.simulator.app import Simulator
from services.providers.simulator.server import BASE_PATHS, make_config


def main() -> None:
    parser = argparse.ArgumentParser(description="Provider simulator (OpenAI, Anthropic, "
                                                 "Groq, Mistral, ... wire formats)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    for name, path in BASE_PATHS.items():
        print(f"{name:<11} http://{args.host}:{args.port}{path}", flush=True)
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    uvicorn.Server(make_config(Simulator(), host=args.host, port=args.port, loop=loop)).run()


if __name__ == "__main__":
    main()
