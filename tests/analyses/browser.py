"""Open an HTML file in headless Chromium: image load states, console errors, a screenshot.

No CDP client is needed: a copy of the page gets a probe script that, on `load`, writes
every <img>'s naturalWidth and any uncaught error into an attribute of <body>;
`--dump-dom` prints the DOM after load, and `--enable-logging=stderr` prints console
errors (`:CONSOLE` lines). Nothing is downloaded; the browser runs offline.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]
_PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e.type)), true);
window.addEventListener('load', () => {
  const imgs = [...document.images].map(i => ({alt: i.alt, w: i.naturalWidth, complete: i.complete}));
  document.body.setAttribute('data-probe', JSON.stringify({imgs, errors: window.__errors}));
});
</script>"""


def available() -> bool:
    return Path(CHROMIUM).is_file()


def _run(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def probe(page: Path, workdir: Path) -> tuple[dict, list[str]]:
    """(image states + uncaught errors, console lines) of `page` loaded from a probed copy beside it."""
    text = page.read_text(encoding="utf-8")
    probed = page.with_name(".probed-" + page.name)
    probed.write_text(text.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    try:
        done = _run(["--dump-dom", probed.as_uri()], workdir / "profile-probe")
    finally:
        probed.unlink()
    m = re.search(r'data-probe="([^"]*)"', done.stdout)
    if m is None:
        raise AssertionError(f"page did not finish loading; chromium stderr tail: {done.stderr[-2000:]}")
    import html

    return json.loads(html.unescape(m.group(1))), console_errors(done.stderr)


def screenshot(page: Path, png: Path, workdir: Path, size: str = "1200,4800") -> list[str]:
    """Save a screenshot of the unmodified page; return its console lines."""
    png.parent.mkdir(parents=True, exist_ok=True)
    done = _run([f"--screenshot={png}", f"--window-size={size}", page.as_uri()], workdir / "profile-shot")
    return console_errors(done.stderr)
