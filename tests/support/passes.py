"""Run the suite's passes at the same time: ``python -m tests.support.passes "CMD…" "CMD…"…``.

``make test`` runs the SQLite pass and the PostgreSQL pass this way, one per core. The first
command prints as it runs; each other one writes to ``test-artifacts/pass-N.log``, which is
printed in full once it is done. The exit status is 0 only if every command exits with 0.

Nothing the passes use is shared: each picks its own free ports, temporary folders and queue
file (tests/conftest.py), and the PostgreSQL pass has its own server and database. The commands
are started in this process group, so Ctrl-C stops all of them (each stops its servers).
"""

import os
import shlex
import subprocess
import sys
import time

ARTIFACTS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "test-artifacts"
)


def main(commands):
    if not commands:
        sys.exit(__doc__)
    os.makedirs(ARTIFACTS, exist_ok=True)
    started = time.monotonic()
    running = []
    logs = [None] + [os.path.join(ARTIFACTS, f"pass-{number}.log") for number in range(2, len(commands) + 1)]
    for number, (command, log) in enumerate(zip(commands, logs, strict=True), start=1):
        where = f"output in {os.path.relpath(log)}, printed when it is done" if log else "output below"
        print(f"pass {number} ({where}): {command}", flush=True)
    for number, (command, log) in enumerate(zip(commands, logs, strict=True), start=1):
        out = open(log, "wb") if log else None  # noqa: SIM115  (closed below, once it has finished)
        proc = subprocess.Popen(shlex.split(command), stdout=out, stderr=subprocess.STDOUT if out else None)
        running.append((number, command, proc, log, out))
    finished = {}
    try:
        while len(finished) < len(running):
            for number, _command, proc, _log, _out in running:
                if number not in finished and proc.poll() is not None:
                    finished[number] = time.monotonic() - started
            time.sleep(0.5)
    except KeyboardInterrupt:  # Ctrl-C reached every pass too: let each stop its servers
        for _number, _command, proc, _log, _out in running:
            proc.wait()
        return 130
    statuses = []
    for number, command, proc, log, out in running:
        if out is not None:
            out.close()
            print(f"\n======== pass {number}: {command}", flush=True)
            with open(log, "rb") as fh:
                sys.stdout.buffer.write(fh.read())
                sys.stdout.buffer.flush()
        statuses.append((number, command, proc.returncode, finished[number]))
    print("\n======== passes")
    for number, command, status, elapsed in statuses:
        print(f"pass {number}: exit {status}, done after {elapsed:.0f} s: {command}")
    return 0 if all(status == 0 for *_, status, _ in statuses) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
