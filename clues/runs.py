"""The run store: training runs and their metrics in one SQLite file (WAL mode).

Several processes use it at once — the app, `clues runs …`, and each training process — so
every call opens its own short connection with a busy timeout, and each write is one
transaction: a run killed mid-way keeps everything it logged up to its last write.

Metric rows are (run_id, epoch, step, field, name, value). `field` is NULL for training
metrics (loss, learning_rate, grad_norm), a fact field for per-field evaluation metrics
(em, f1, recall), and `MEAN_FIELD` for their mean over the evaluated fields.

The queue needs no daemon: a training process waits (`wait_for_turn`) until fewer than
`max_active` runs are running on its device and no older queued run waits for the same slot.
How many runs a device holds at once is decided in one place, `slots` (beside `device_key`): on a
CPU, its cores over the threads each run uses; one per GPU.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from clues.errors import CluesError

STATUSES = ("queued", "running", "finished", "failed", "stopped", "interrupted", "killed")
ACTIVE = ("queued", "running")
MEAN_FIELD = "mean"
# A queued run is recorded just before its process starts; give it this long to get a pid.
PID_GRACE_S = 60.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL,
    device TEXT,
    pid INTEGER,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    error TEXT,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    log_path TEXT
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    epoch REAL,
    step INTEGER,
    field TEXT,
    name TEXT NOT NULL,
    value REAL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_run ON metrics(run_id);
CREATE TABLE IF NOT EXISTS follows (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    comparison TEXT NOT NULL,
    session TEXT NOT NULL DEFAULT '',
    started INTEGER NOT NULL DEFAULT 0,
    left_at TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (run_id, comparison)
);
CREATE TABLE IF NOT EXISTS dismissed (
    comparison TEXT PRIMARY KEY,
    dismissed_at TEXT NOT NULL
);
"""


def clues_home() -> Path:
    return Path(os.environ.get("CLUES_HOME") or Path.home() / ".local" / "share" / "clues")


def default_store_path() -> Path:
    return clues_home() / "runs.sqlite"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def pid_alive(pid: int | None) -> bool:
    """True when `pid` names a live process on this machine (zombies count as dead)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    stat = Path(f"/proc/{pid}/stat")
    try:
        # The state letter follows the parenthesised command name; 'Z' is a killed, unreaped child.
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): trust os.kill


def _use_wal(db: sqlite3.Connection, timeout_s: float) -> None:
    """Put the database in WAL mode, waiting up to timeout_s for other openers.

    Processes opening a new store at once (the processes of one launch, the app and a run) all
    try the switch; SQLite answers the losers 'database is locked' at once, without the busy
    timeout, so wait here. Once the file is in WAL mode the pragma is a no-op.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class RunStore:
    def __init__(self, path: str | os.PathLike | None = None, *, timeout_s: float = 30.0):
        self.path = Path(path).expanduser() if path else default_store_path()
        self.timeout_s = timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=timeout_s)
        try:
            db.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
            _use_wal(db, timeout_s)  # persistent: stored in the file from now on
            db.executescript(SCHEMA)
        finally:
            db.close()

    # -- connections -------------------------------------------------------------------

    @contextmanager
    def _connect(self, *, immediate: bool = False):
        """One connection per call; commits on success, rolls back on error, always closes."""
        db = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
            _use_wal(db, self.timeout_s)
            db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable across a killed process
            # IMMEDIATE takes the write lock up front, so a read-then-write (the queue) is atomic.
            db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    def journal_mode(self) -> str:
        db = sqlite3.connect(self.path, timeout=self.timeout_s)
        try:
            return db.execute("PRAGMA journal_mode").fetchone()[0]
        finally:
            db.close()

    def integrity_check(self) -> bool:
        db = sqlite3.connect(self.path, timeout=self.timeout_s)
        try:
            return db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            db.close()

    # -- runs ----------------------------------------------------------------------------

    def create_run(self, name: str, config: dict, status: str = "queued", *,
                   device: str | None = None, pid: int | None = None) -> int:
        _check_status(status)
        started = now() if status == "running" else None
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO runs (name, config, status, device, pid, created_at, started_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, json.dumps(config, default=str), status, device, pid, now(), started))
            return int(cursor.lastrowid)

    def set_pid(self, run_id: int, pid: int, *, log_path: str | None = None) -> None:
        with self._connect() as db:
            db.execute("UPDATE runs SET pid = ?, log_path = COALESCE(?, log_path) WHERE id = ?",
                       (pid, log_path, run_id))

    def update_config(self, run_id: int, config: dict) -> None:
        with self._connect() as db:
            db.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(config, default=str), run_id))

    def finish(self, run_id: int, status: str, error: str | None = None) -> None:
        _check_status(status)
        with self._connect() as db:
            db.execute("UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE id = ?",
                       (status, error, now(), run_id))

    def request_stop(self, run_id: int) -> None:
        self.get_run(run_id)  # raises for an unknown id
        with self._connect() as db:
            db.execute("UPDATE runs SET stop_requested = 1 WHERE id = ?", (run_id,))

    def stop_requested(self, run_id: int) -> bool:
        with self._connect() as db:
            row = db.execute("SELECT stop_requested FROM runs WHERE id = ?", (run_id,)).fetchone()
        return bool(row and row[0])

    def get_run(self, run_id: int) -> dict:
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        if row is None:
            raise CluesError(f"No run with id {run_id} in {self.path}. `clues runs list` shows the runs.")
        return _run_dict(row)

    def list_runs(self) -> list[dict]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM runs ORDER BY id").fetchall()
        return [_run_dict(row) for row in rows]

    def reconcile(self) -> list[int]:
        """Mark queued/running runs whose process is gone as 'interrupted'; return their ids."""
        gone = []
        with self._connect(immediate=True) as db:
            for row in db.execute("SELECT id, pid, status, created_at FROM runs "
                                  "WHERE status IN ('queued', 'running')").fetchall():
                if row["pid"] is None and row["status"] == "queued" and _age_s(row["created_at"]) < PID_GRACE_S:
                    continue
                if not pid_alive(row["pid"]):
                    gone.append(row["id"])
            for run_id in gone:
                db.execute("UPDATE runs SET status = 'interrupted', finished_at = ?, "
                           "error = COALESCE(error, 'the process ended without finishing the run') "
                           "WHERE id = ?", (now(), run_id))
        return gone

    # -- comparisons -------------------------------------------------------------------
    # A comparison (the runs one launch started, clues.launch.comparison_of) stays on the Training
    # page of every browser until someone dismisses it; the store remembers that, not a session.

    def dismiss(self, comparison: str) -> None:
        with self._connect() as db:
            db.execute("INSERT OR IGNORE INTO dismissed (comparison, dismissed_at) VALUES (?, ?)",
                       (str(comparison), now()))

    def dismissed(self) -> set[str]:
        with self._connect() as db:
            return {row[0] for row in db.execute("SELECT comparison FROM dismissed").fetchall()}

    # -- shared runs -------------------------------------------------------------------
    # A launched run is saved with a content key (clues.launch.content_key: its configuration and the
    # bytes of its data). A comparison follows each of its runs: the ones it queued (started = 1) and
    # identical ones already in the store that it shares instead of queueing copies (started = 0).

    @contextmanager
    def sharing(self):
        """Held while a launcher looks for identical runs and queues the missing ones, so two sessions
        starting the same comparison at once queue it once (a lock file beside the store)."""
        with open(self.path.with_name(self.path.name + ".share-lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def shared_run(self, content_key: str) -> int | None:
        """The newest run saved with `content_key` that is queued, running or finished (and not asked to
        stop), else None."""
        with self._connect() as db:
            row = db.execute("SELECT id FROM runs WHERE json_extract(config, '$.extra.content_key') = ? "
                             "AND status IN ('queued', 'running', 'finished') AND stop_requested = 0 "
                             "ORDER BY id DESC LIMIT 1",
                             (content_key,)).fetchone()
        return None if row is None else int(row[0])

    def follow(self, comparison: str, run_id: int, *, session: str = "", started: bool = False) -> None:
        with self._connect() as db:
            db.execute("INSERT OR IGNORE INTO follows (run_id, comparison, session, started, created_at) "
                       "VALUES (?, ?, ?, ?, ?)", (int(run_id), str(comparison), session, int(started), now()))

    def follows(self) -> list[dict]:
        """Every (comparison, run) a launch recorded, oldest first."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM follows ORDER BY rowid").fetchall()
        return [dict(row) for row in rows]

    def followers(self, run_id: int) -> set[str]:
        """The sessions that follow a run and have not left it."""
        with self._connect() as db:
            rows = db.execute("SELECT DISTINCT session FROM follows WHERE run_id = ? AND left_at IS NULL",
                              (int(run_id),)).fetchall()
        return {row[0] for row in rows}

    def leave(self, run_id: int, session: str) -> set[str]:
        """`session` stops following the run; the sessions that still follow it."""
        with self._connect(immediate=True) as db:
            db.execute("UPDATE follows SET left_at = ? WHERE run_id = ? AND session = ? AND left_at IS NULL",
                       (now(), int(run_id), session))
            rows = db.execute("SELECT DISTINCT session FROM follows WHERE run_id = ? AND left_at IS NULL",
                              (int(run_id),)).fetchall()
        return {row[0] for row in rows}

    def active_started_by(self, session: str) -> list[int]:
        """Ids of the queued or running runs that `session` queued and did not stop (shared ones not
        counted)."""
        with self._connect() as db:
            rows = db.execute("SELECT DISTINCT r.id FROM follows f JOIN runs r ON r.id = f.run_id "
                              "WHERE f.session = ? AND f.started = 1 AND r.status IN ('queued', 'running') "
                              "AND r.stop_requested = 0 "
                              "ORDER BY r.id", (session,)).fetchall()
        return [int(row[0]) for row in rows]

    # -- metrics -------------------------------------------------------------------------

    def log_metrics(self, run_id: int, rows) -> None:
        """Write rows of dicts (epoch, step, field, name, value) in one transaction."""
        stamp = now()
        values = [(run_id, _float(r.get("epoch")), _int(r.get("step")), r.get("field"), r["name"],
                   _float(r.get("value")), stamp) for r in rows]
        if not values:
            return
        with self._connect() as db:
            db.executemany("INSERT INTO metrics (run_id, epoch, step, field, name, value, created_at) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?)", values)

    def metrics(self, run_id: int):
        with self._connect() as db:
            rows = db.execute("SELECT run_id, epoch, step, field, name, value, created_at FROM metrics "
                              "WHERE run_id = ? ORDER BY rowid", (run_id,)).fetchall()
        columns = ["run_id", "epoch", "step", "field", "name", "value", "created_at"]
        return pd.DataFrame([tuple(r) for r in rows], columns=columns)

    def epoch_summary(self, run_id: int) -> dict:
        """The evaluation metrics of the last evaluated epoch and the last loss, flat."""
        frame = self.metrics(run_id)
        summary: dict = {}
        losses = frame[frame["name"] == "loss"]
        if len(losses):
            summary["loss"] = float(losses["value"].iloc[-1])
        evals = frame[frame["field"].notna()]
        if len(evals):
            last = evals[evals["epoch"] == evals["epoch"].max()]
            summary["epoch"] = float(last["epoch"].iloc[0])
            for row in last.itertuples():
                summary[f"{row.name}/{row.field}"] = float(row.value)
        return summary

    # -- queue ---------------------------------------------------------------------------

    def try_claim(self, run_id: int, pid: int, device: str, max_active: int = 1) -> bool:
        """Atomically mark `run_id` running if its device has a free slot and it is next in line."""
        with self._connect(immediate=True) as db:
            running = db.execute("SELECT id, pid FROM runs WHERE status = 'running' AND device = ? "
                                 "AND id != ?", (device, run_id)).fetchall()
            busy = sum(1 for r in running if pid_alive(r["pid"]))
            ahead = db.execute("SELECT id, pid, created_at FROM runs WHERE status = 'queued' "
                               "AND device = ? AND id < ?", (device, run_id)).fetchall()
            # A queued run counts as waiting only while its process lives (or is about to start).
            waiting = sum(1 for r in ahead if pid_alive(r["pid"]) or
                          (r["pid"] is None and _age_s(r["created_at"]) < PID_GRACE_S))
            if busy + waiting >= max_active:
                return False
            db.execute("UPDATE runs SET status = 'running', pid = ?, device = ?, started_at = ? "
                       "WHERE id = ?", (pid, device, now(), run_id))
            return True

    def wait_for_turn(self, run_id: int, device: str, *, max_active: int = 1,
                      poll_s: float = 1.0, timeout_s: float | None = None) -> bool:
        """Block until the run may start (True) or a stop is requested while it waits (False)."""
        with self._connect() as db:
            db.execute("UPDATE runs SET device = ?, pid = ? WHERE id = ?", (device, os.getpid(), run_id))
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            if self.stop_requested(run_id):
                return False
            if self.try_claim(run_id, os.getpid(), device, max_active):
                return True
            if deadline is not None and time.monotonic() > deadline:
                raise CluesError(f"Run {run_id} waited {timeout_s:.0f} s for a free slot on {device}.")
            time.sleep(poll_s)

    def active_runs(self, *, exclude: int | None = None) -> int:
        with self._connect() as db:
            rows = db.execute("SELECT id, pid FROM runs WHERE status = 'running'").fetchall()
        return sum(1 for r in rows if r["id"] != exclude and pid_alive(r["pid"]))


def device_key(device=None) -> str:
    """The queue's name for a device: 'cpu' (one pool for every CPU process) or 'cuda:0', 'cuda:1' ….

    `device` is a torch.device, a name ('cpu', 'cuda', 'cuda:1') or None: the device a training
    process picks by itself (the first CUDA device when there is one, else the CPU). The launcher,
    `start_run_process` and the training process all ask this one function.
    """
    # torch is imported here, not at the top: `clues runs list|show|stop` never needs it and
    # starts in a fraction of the time without it.
    import torch  # noqa: PLC0415

    if device is None:
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    return "cpu" if device.type == "cpu" else f"{device.type}:{device.index or 0}"


def usable_cores() -> int:
    """The cores this process may run on (its affinity, which a container or taskset narrows)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity call (macOS)
        return os.cpu_count() or 1


def run_threads() -> int:
    """Torch threads a training process uses on a CPU: OMP_NUM_THREADS when set (the app's runs get 1,
    `start_run_process`), else what `clues.train.set_threads` gives a run alone: min(cores, 4)."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) >= 1:
        return int(value)
    return max(1, min(usable_cores(), 4))


def slots(device: str, threads: int | None = None) -> int:
    """How many runs train at once on `device` (a `device_key`): on the CPU as many as the cores allow at
    `threads` each (default `run_threads()`), so no core idles while runs wait; one per GPU, whose
    memory a second run would share."""
    if device != "cpu":
        return 1
    return max(1, usable_cores() // max(1, threads or run_threads()))


def start_run_process(store: RunStore, config: dict, *, name: str = "run", env: dict | None = None) -> int:
    """Queue a run with `config` (a `clues.train.TrainConfig` as a dict) and start it detached.

    The configuration is saved with the run; the child is `python -m clues train --run <id>`,
    which trains exactly that saved configuration, queues on `device_key(config["device"])`
    and writes its output to `logs/run-<id>.log` next to the database. Returns the run id.
    """
    if not isinstance(config, dict):
        raise TypeError("config must be a dict (dataclasses.asdict of a TrainConfig)")
    run_id = store.create_run(name, config, "queued", device=device_key(config.get("device")))
    log_dir = store.path.parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"run-{run_id}.log"
    command = [sys.executable, "-m", "clues", "train", "--run", str(run_id), "--store", str(store.path)]
    child_env = {**os.environ, **(env or {})}
    child_env.setdefault("OMP_NUM_THREADS", "1")  # a background run must not starve the app
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=child_env,
                                   start_new_session=True, close_fds=True)
    store.set_pid(run_id, process.pid, log_path=str(log_path))
    return run_id


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown run status {status!r}; one of {STATUSES}")


def _run_dict(row) -> dict:
    run = dict(row)
    run["config"] = json.loads(run["config"]) if run["config"] else {}
    run["stop_requested"] = bool(run["stop_requested"])
    return run


def _age_s(stamp: str | None) -> float:
    if not stamp:
        return float("inf")
    return (datetime.now(timezone.utc) - datetime.fromisoformat(stamp)).total_seconds()


def _float(value):
    return None if value is None else float(value)


def _int(value):
    return None if value is None else int(value)
