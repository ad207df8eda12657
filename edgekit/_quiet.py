"""Keep other libraries' output off the terminal: TensorFlow and absl C++ logs, oneDNN notices,
converter prints and progress bars write straight to file descriptors 1 and 2, so they are
captured there, not at Python's sys.stdout/sys.stderr."""

from __future__ import annotations

import os
import re
import sys
import tempfile

# lines every conversion prints that say nothing about this model
NOISE = re.compile(
    r"oneDNN custom operations|cpu_feature_guard|absl::InitializeLog|rebuild TensorFlow|"
    r"XNNPACK delegate|trackable_obj|deprecated conversion path|fully_quantize|"
    r"Statistics for quantized inputs|TF 2\.20|migration guide|tf\.lite\.Interpreter is deprecated|"
    r"INFO:|^\s*warnings\.warn|"
    r"has not been tested with coremltools|version .* is not supported\. Minimum required|"
    r"Failed to load _ML|libcoremlpython",
    re.IGNORECASE,
)
WARNING = re.compile(r"\b(warn|warning|error|failed)\b", re.IGNORECASE)


class Capture:
    """Within `with Capture():`, everything written to fds 1 and 2 goes to a temporary file.
    `terminal` is a text stream on the real stderr, for the caller's own progress display;
    `take()` returns what was captured since the last call."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.terminal = sys.stderr
        self._read = 0

    def __enter__(self) -> Capture:
        if not self.enabled:
            return self
        sys.stdout.flush()
        sys.stderr.flush()
        self._saved = (os.dup(1), os.dup(2))
        self._file = tempfile.TemporaryFile()
        os.dup2(self._file.fileno(), 1)
        os.dup2(self._file.fileno(), 2)
        self.terminal = os.fdopen(os.dup(self._saved[1]), "w", buffering=1)
        return self

    def take(self) -> str:
        if not self.enabled:
            return ""
        sys.stdout.flush()
        sys.stderr.flush()
        self._file.seek(self._read)
        data = self._file.read()
        self._read += len(data)
        self._file.seek(0, os.SEEK_END)
        return data.decode(errors="replace")

    def __exit__(self, *exc) -> None:
        if not self.enabled:
            return
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in zip((1, 2), self._saved):
            os.dup2(saved, fd)
            os.close(saved)
        self.terminal.close()
        self._file.close()
        self.terminal = sys.stderr


def summary(text: str) -> str:
    """One line for what a converter printed: its warnings and errors, noise left out."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    worth = [ln for ln in lines if WARNING.search(ln) and not NOISE.search(ln)]
    if not worth:
        return ""
    first = worth[0][:160]
    more = f" (+{len(worth) - 1} more)" if len(worth) > 1 else ""
    return f"{first}{more}"
