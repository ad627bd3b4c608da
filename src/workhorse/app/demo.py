"""``workhorse demo``: the reference application -- API, live progress, the six
queues' workers, the scheduler and a local mail sink -- in one process on the
embedded store, with the demo users ``alice``, ``bob`` and ``admin``."""

from __future__ import annotations

from workhorse.app.settings import Settings

DEMO_USERS = (("alice", False), ("bob", False), ("admin", True))


def demo_settings(data_dir: str) -> Settings:
    """The embedded store in ``data_dir``, whatever Redis the environment names; the
    generated secret is kept there too, so ``workhorse token`` run in the same
    working directory mints tokens the demo accepts."""
    db = f"{data_dir.rstrip('/')}/workhorse.db"
    return Settings(store_url=f"sqlite:///{db}", db_path=db, environment="development")


def banner(base_url: str, tokens: dict[str, str], mail_dir: str | None = None) -> str:
    lines = [
        f"Workhorse demo running at {base_url}",
        f"  demo page:      {base_url}/  (start an export, watch it live, download it)",
        f"  dashboard:      {base_url}/admin/queues  (sign in with the admin token below)",
        f"  metrics:        {base_url}/metrics",
        *([f"  e-mails sent:   saved as .eml files in {mail_dir}"] if mail_dir else []),
        f"  API docs:       {base_url}/docs",
        f"  health:         {base_url}/health",
        f"  live progress:  Socket.IO at {base_url}/socket.io (event queue:job:progress),",
        f"                  SSE at {base_url}/api/queues/exports/jobs/<jobId>/events?token=…",
        "",
        "Demo users and their bearer tokens:",
    ]
    lines += [f"  {user:<6} {token}" for user, token in tokens.items()]
    alice = tokens["alice"]
    lines += [
        "",
        "Try it:",
        f'  curl -H "Authorization: Bearer {alice}" \\',
        f'       "{base_url}/api/export?entity=sessions&format=csv"',
        f'  curl -N "{base_url}/api/queues/exports/jobs/<jobId>/events?token={alice}"',
    ]
    return "\n".join(lines)
