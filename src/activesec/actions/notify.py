"""Desktop notification: tell the person at the machine what ActiveSec decided.

* Linux/BSD: the ``org.freedesktop.Notifications.Notify`` D-Bus method on the session bus,
  called directly through dbus-fast (the interface every notification daemon — GNOME Shell,
  KDE Plasma, dunst, mako, xfce4-notifyd — implements; ``notify-send`` is only a wrapper for
  it). Without dbus-fast installed, ``notify-send`` is used. No session bus ->
  ``ok=False, "no D-Bus session bus: ..."``, never an exception.
* macOS: ``osascript`` ``display notification`` (text passed as arguments, never spliced into
  the script).
* Windows: a toast through PowerShell's WinRT bridge (text passed through environment
  variables). Untested on a real Windows desktop here; Focus Assist may hide it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Any, Literal

from activesec.actions import _dbus, _proc
from activesec.actions.base import Action, ActionResult, Decision
from activesec.core.errors import ConfigError

BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"

_HEADLINES = {
    "notify": "Unusual input detected",
    "lock": "Session locked: input did not match the owner",
    "gate": "Apps paused: input did not match the owner",
    "restore": "Trust restored",
}

_OSASCRIPT = [
    "osascript",
    "-e",
    "on run argv",
    "-e",
    "display notification (item 2 of argv) with title (item 1 of argv)",
    "-e",
    "end run",
]

_TOAST_PS = r"""
$asm = ', Windows.UI.Notifications, ContentType=WindowsRuntime'
$M = [type]('Windows.UI.Notifications.ToastNotificationManager' + $asm)
$T = [type]('Windows.UI.Notifications.ToastTemplateType' + $asm)
$N = [type]('Windows.UI.Notifications.ToastNotification' + $asm)
$t = $M::GetTemplateContent($T::ToastText02)
$n = $t.GetElementsByTagName('text')
$n.Item(0).AppendChild($t.CreateTextNode($env:ACTIVESEC_TITLE)) | Out-Null
$n.Item(1).AppendChild($t.CreateTextNode($env:ACTIVESEC_BODY)) | Out-Null
$app = '{1AC14E77-02E7-4E5D-B744-2EB1AE5198B7}\WindowsPowerShell\v1.0\powershell.exe'
$M::CreateToastNotifier($app).Show($N::new($t))
"""


def message(decision: Decision, title: str = "ActiveSec") -> tuple[str, str]:
    """(summary, body) for ``decision``: a headline and the policy's reason with the trust."""
    summary = f"{title}: {_HEADLINES.get(decision.level, decision.level)}"
    body = f"{decision.reason} (trust {decision.trust:.2f}, state {decision.state})"
    return summary, body


class NotifyAction(Action):
    """Show a desktop notification for every decision it is given.

    Parameters: ``title`` (prefix of the summary), ``timeout_ms`` (-1 = the server's default),
    ``bus_address`` (default: the session bus), ``platform`` and ``runner`` (test seams).
    """

    name = "notify"
    seams = frozenset({"platform", "runner"})

    def __init__(
        self,
        *,
        title: str = "ActiveSec",
        timeout_ms: int = -1,
        bus_address: str | None = None,
        platform: str | None = None,
        runner: _proc.Runner | None = None,
        dry_run: bool = False,
    ) -> None:
        super().__init__(dry_run=dry_run)
        if not isinstance(timeout_ms, int) or timeout_ms < -1:
            raise ConfigError(
                f"notify.timeout_ms must be an integer >= -1, got {timeout_ms!r}",
                "use -1 for the notification server's default",
            )
        self.title = title
        self.timeout_ms = timeout_ms
        self.bus_address = bus_address
        self.platform = platform or sys.platform
        self.runner: _proc.Runner = runner or _proc.run

    def plan(self, op: Literal["fire", "revert"], decision: Decision) -> str:
        if op == "revert":
            return "notify: nothing to revert"
        summary, body = message(decision, self.title)
        return f"would show a desktop notification {summary!r}: {body!r}"

    def _fire(self, decision: Decision) -> ActionResult:
        summary, body = message(decision, self.title)
        return self.show(summary, body, critical=decision.level in ("lock", "gate"))

    def show(self, summary: str, body: str, *, critical: bool = False) -> ActionResult:
        """Show one notification, decision or not (e.g. ``run --notify-failure``: the agent
        could not start); never raises. Not gated by ``dry_run``, which is about decisions."""
        if self.platform == "darwin":
            return self._run("osascript", [*_OSASCRIPT, summary, body])
        if self.platform == "win32":
            env = {**os.environ, "ACTIVESEC_TITLE": summary, "ACTIVESEC_BODY": body}
            argv = ["powershell", "-NoProfile", "-NonInteractive", "-Command", _TOAST_PS]
            return self._run("windows toast", argv, env)
        return self._freedesktop(critical, summary, body)

    def _freedesktop(self, critical: bool, summary: str, body: str) -> ActionResult:
        try:
            from dbus_fast import Variant
        except ImportError:
            if shutil.which("notify-send") is None:
                return ActionResult(
                    False,
                    "no way to notify: dbus-fast is not installed and notify-send is missing",
                )
            argv = ["notify-send", "-a", "ActiveSec", "-u", "critical" if critical else "normal"]
            env = None
            if self.bus_address:
                env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": self.bus_address}
            return self._run("notify-send", [*argv, summary, body], env)
        hints: dict[str, Any] = {"urgency": Variant("y", 2 if critical else 1)}
        try:
            reply = _dbus.call(
                BUS_NAME,
                OBJECT_PATH,
                BUS_NAME,
                "Notify",
                "susssasa{sv}i",
                ["ActiveSec", 0, "dialog-warning", summary, body, [], hints, self.timeout_ms],
                address=self.bus_address,
            )
        except _dbus.BusUnavailable as exc:
            return ActionResult(False, f"no D-Bus session bus: {exc}")
        except _dbus.CallFailed as exc:
            if exc.error_name == _dbus.SERVICE_UNKNOWN:
                return ActionResult(
                    False,
                    "no notification server on the session bus "
                    "(is a notification daemon such as dunst or the desktop shell running?)",
                )
            return ActionResult(False, f"notification refused: {exc}")
        except TimeoutError as exc:
            return ActionResult(False, f"notification server did not answer: {exc}")
        nid = reply[0] if reply else 0
        return ActionResult(True, f"notification {nid} shown via D-Bus", {"id": nid})

    def _run(self, how: str, argv: list[str], env: dict[str, str] | None = None) -> ActionResult:
        try:
            proc = self.runner(argv, timeout=10.0, env=env)
        except FileNotFoundError:
            return ActionResult(False, f"cannot notify: {argv[0]} is not installed")
        except subprocess.TimeoutExpired:
            return ActionResult(False, f"{how} did not finish within 10 s")
        except OSError as exc:
            return ActionResult(False, f"cannot notify via {how}: {exc}")
        if proc.returncode != 0:
            return ActionResult(False, f"{how} failed: {_proc.outcome(proc)}")
        return ActionResult(True, f"notification shown via {how}")
