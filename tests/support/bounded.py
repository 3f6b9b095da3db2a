"""Running one test case under a wall-clock alarm, so a hang fails that case, not the suite."""

import signal

CASE_SECONDS = 20


class CaseTimeout(BaseException):
    """Not an Exception (nor an OSError like TimeoutError), so the code under test cannot swallow it."""


def run_bounded(function, *args, seconds=CASE_SECONDS):
    """Call ``function(*args)``; raise CaseTimeout if it runs longer than ``seconds``."""

    def on_alarm(signum, frame):
        raise CaseTimeout(f"{getattr(function, '__name__', function)} ran over {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return function(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
